<?php
// A CURVE client as a PHP app with php-zmq would write one: one event over DEALER.
// usage: curve_client.php ENDPOINT SERVER_PUBLIC_KEY_FILE CLIENT_SECRET_KEY_FILE EVENT
function key_of(string $file, string $which): string {
    preg_match('/' . $which . '-key = "([^"]{40})"/', file_get_contents($file), $found)
        or die("no $which key in $file\n");
    return $found[1];
}
[, $endpoint, $serverFile, $secretFile, $event] = $argv;
$socket = new ZMQSocket(new ZMQContext(), ZMQ::SOCKET_DEALER);
$socket->setSockOpt(ZMQ::SOCKOPT_CURVE_SERVERKEY, key_of($serverFile, 'public'));
$socket->setSockOpt(ZMQ::SOCKOPT_CURVE_PUBLICKEY, key_of($secretFile, 'public'));
$socket->setSockOpt(ZMQ::SOCKOPT_CURVE_SECRETKEY, key_of($secretFile, 'secret'));
$socket->setSockOpt(ZMQ::SOCKOPT_LINGER, 2000);
$socket->connect($endpoint);
$socket->sendmulti([$event, json_encode(['from' => 'php'])]);
