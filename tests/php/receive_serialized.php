<?php
// A PHP peer receiving as the original does with its PhpSerializer: unserialize() of
// each payload frame. Usage: receive_serialized.php ENDPOINT COUNT. Binds a PULL
// socket, prints "ready", then for each of COUNT messages one line: the event name
// and, per payload frame, serialize(unserialize(frame)) in hex ("refused" if PHP
// cannot read it). Bounded by RCVTIMEO: exits 1 when a message does not come.
[$endpoint, $count] = [$argv[1], (int) $argv[2]];
$socket = (new ZMQContext())->getSocket(ZMQ::SOCKET_PULL);
$socket->setSockOpt(ZMQ::SOCKOPT_LINGER, 0);
$socket->setSockOpt(ZMQ::SOCKOPT_RCVTIMEO, 30000);
$socket->bind($endpoint);
echo "ready\n";
for ($i = 0; $i < $count; $i++) {
    $frames = $socket->recvMulti();
    if ($frames === false) {
        fwrite(STDERR, "no message within RCVTIMEO\n");
        exit(1);
    }
    $line = [array_shift($frames)];
    foreach ($frames as $frame) {
        $value = @unserialize($frame, ['allowed_classes' => false]);
        $line[] = $value === false && $frame !== serialize(false) ? 'refused' : bin2hex(serialize($value));
    }
    echo implode(' ', $line), "\n";
}
