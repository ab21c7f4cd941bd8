<?php
// A PHP peer as the original sends with its PhpSerializer: one serialize() frame per
// payload argument, over php-zmq. Usage: send_serialized.php ENDPOINT SOCKET_TYPE.
// Sends one "php.values" event per argument list below, then the service's stop event.
[$endpoint, $type] = [$argv[1], constant('ZMQ::SOCKET_' . $argv[2])];
$socket = (new ZMQContext())->getSocket($type);
// Bounded: the Python side is bound before this starts; never wait for ever.
$socket->setSockOpt(ZMQ::SOCKOPT_LINGER, 10000);
$socket->setSockOpt(ZMQ::SOCKOPT_SNDTIMEO, 10000);
$socket->connect($endpoint);

$payloads = [
    [null, true, false, 0, 42, -7, PHP_INT_MAX, PHP_INT_MIN],
    [1.0, 0.1, -0.0, 1e25, 3e-7, 1e16, 5e-324, INF, -INF],
    ["при/вет", "", "bin\x00\xff", 'quote " and ";'],
    [[1, 2, 3], [], ['a' => 1, 'b' => [true, null]], [5 => 'x', 'k' => 2.5], [1 => 'a', 0 => 'b']],
];
foreach ($payloads as $payload) {
    $socket->sendmulti(array_merge(['php.values'], array_map('serialize', $payload)));
}
$socket->sendmulti(['zeroevents.service.stop']);
