<?php
// Receives as the PHP original's EventService does (ptrofimov/zeroevents 3.x,
// EventSocket::pull and pullAndFire, JsonSerializer), for tests/test_envelope.py:
// the name is the first frame after a ROUTER's address, each other frame goes through
// json_decode($frame, true), confirmed mode answers any name but zeroevents.confirmed,
// and the event is fired only when the name is truthy in PHP (`if ($event = ...)`).
//
//   php original_receiver.php TYPE ENDPOINT CONFIRMED COUNT
//     binds TYPE (DEALER or ROUTER) on ENDPOINT, prints {"ready": true}, takes COUNT
//     messages, then prints one line per message taken:
//     {"name": HEX, "fired": bool, "payload": [...]} and exits 0.
const FLAGS = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE;

[$script, $type, $endpoint, $confirmed, $count] = array_pad($argv, 5, '');
$types = ['DEALER' => ZMQ::SOCKET_DEALER, 'ROUTER' => ZMQ::SOCKET_ROUTER];
if (!isset($types[$type]) || (int) $count < 1) {
    fwrite(STDERR, "usage: original_receiver.php DEALER|ROUTER ENDPOINT 0|1 COUNT\n");
    exit(2);
}
$socket = (new ZMQContext(1, false))->getSocket($types[$type]);
$socket->bind($endpoint);
$routed = $type === 'ROUTER';
echo json_encode(['ready' => true]), "\n";
flush();

$taken = [];
for ($i = 0; $i < (int) $count; $i++) {
    $frames = $socket->recvMulti();
    $address = $routed ? array_shift($frames) : null;
    $event = array_shift($frames);
    $payload = array_map(fn($frame) => json_decode($frame, true), $frames);
    if ($confirmed === '1' && $event != 'zeroevents.confirmed') {
        $reply = ['zeroevents.confirmed', json_encode($event, FLAGS)];
        $socket->sendMulti($routed ? array_merge([$address], $reply) : $reply);
    }
    $fired = false;
    if ($event) {  // the original: if ($event = array_get($message, 'event')) Event::until(...)
        $fired = true;
    }
    $taken[] = ['name' => bin2hex($event), 'fired' => $fired, 'payload' => $payload];
}
foreach ($taken as $line) {
    echo json_encode($line, FLAGS), "\n";
}
exit(0);
