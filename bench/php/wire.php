<?php
// The PHP wire path, the floor of what PHP does per event: php-zmq and json, nothing else.
//
//   php wire.php consume ENDPOINT N   binds PULL, prints "ready", then, after N events
//                                     (recvMulti, json_decode), the seconds from the
//                                     first to the last
//   php wire.php produce ENDPOINT N   connects PUSH, sends N events (json_encode, sendMulti)
require __DIR__ . '/order.php';

[$script, $role, $endpoint, $n] = $argv;
$n = (int) $n;
$socket = (new ZMQContext(1, false))->getSocket($role === 'consume' ? ZMQ::SOCKET_PULL : ZMQ::SOCKET_PUSH);
if ($role === 'consume') {
    $socket->setSockOpt(ZMQ::SOCKOPT_RCVHWM, 0); // as every consumer of bench_peers.py
    $socket->bind($endpoint);
    echo "ready\n";
    $first = 0;
    for ($i = 1; $i <= $n; $i++) {
        $frames = $socket->recvMulti();
        if ($i === 1) {
            $first = hrtime(true);
        }
        $payload = json_decode($frames[1], true);
    }
    printf("%.9f\n", (hrtime(true) - $first) / 1e9);
} else {
    $socket->connect($endpoint);
    $order = bench_order();
    for ($i = 0; $i < $n; $i++) {
        $socket->sendMulti(['orders.created', json_encode($order, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE)]);
    }
}
