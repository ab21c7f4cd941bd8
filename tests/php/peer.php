<?php
// A peer that behaves as the PHP original (ptrofimov/zeroevents 3.x) at its defaults,
// for the interoperability tests: php-zmq sockets with no socket options (LINGER -1,
// no timeouts), json_encode/json_decode with the original's flags, confirmations
// answered and awaited as the original does, every received event fired (unknown
// ones and zeroevents.* included) to a '*' listener that prints it.
//
//   php peer.php receive TYPE bind|connect ENDPOINT CONFIRMED IDLE_MS
//     prints "ready", then one JSON line per received message:
//     {"event": NAME, "frames": [HEX, ...], "reencoded": [HEX, ...]}
//     (frames as received, after a ROUTER's address; reencoded: json_encode of each
//     decoded argument); exits after IDLE_MS with nothing received once one came.
//   php peer.php send TYPE bind|connect ENDPOINT CONFIRMED
//     prints "ready" once connected, then reads JSON lines from stdin:
//     {"event": NAME, "payload": [ARG, ...]} (each ARG json_encode'd, as the original)
//     or {"event": NAME, "raw": [HEX, ...]} (frames sent as given); prints for each
//     {"sent": [HEX, ...], "reply": [HEX, ...] | null} (reply: confirmed mode's pull()).
const FLAGS = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE;

[$script, $mode, $type, $how, $endpoint, $confirmed] = array_pad($argv, 6, '');
$confirmed = $confirmed === '1';
$types = ['DEALER' => ZMQ::SOCKET_DEALER, 'ROUTER' => ZMQ::SOCKET_ROUTER,
          'PULL' => ZMQ::SOCKET_PULL, 'PUSH' => ZMQ::SOCKET_PUSH, 'PAIR' => ZMQ::SOCKET_PAIR];
if (!isset($types[$type]) || !in_array($how, ['bind', 'connect'], true)) {
    fwrite(STDERR, "usage: peer.php receive|send TYPE bind|connect ENDPOINT CONFIRMED [IDLE_MS]\n");
    exit(2);
}
$socket = (new ZMQContext(1, false))->getSocket($types[$type]);
$how === 'bind' ? $socket->bind($endpoint) : $socket->connect($endpoint);
$routed = $type === 'ROUTER';

function line(array $value): void {
    echo json_encode($value, FLAGS), "\n";
    flush();
}

function encode(string $event, array $payload): array {
    return array_merge([$event], array_map(fn($v) => (string) json_encode($v, FLAGS), $payload));
}

// The original's pull(): receive, decode, confirm when confirmed (any name but
// zeroevents.confirmed), with the name as received.
function pull(ZMQSocket $socket, bool $routed, bool $confirmed): array {
    $frames = $socket->recvMulti();
    $address = $routed ? array_shift($frames) : null;
    $event = array_shift($frames);
    $payload = array_map(fn($frame) => json_decode($frame, true), $frames);
    if ($confirmed && $event !== 'zeroevents.confirmed') {
        push($socket, $routed, false, 'zeroevents.confirmed', [$event], $address);
    }
    return [$event, $frames, $payload];
}

function push(ZMQSocket $socket, bool $routed, bool $confirmed, string $event, array $frames,
              ?string $address, bool $raw = false): ?array {
    $frames = $raw ? array_merge([$event], $frames) : encode($event, $frames);
    if ($routed) {
        array_unshift($frames, $address);
    }
    $socket->sendMulti($frames);
    if ($confirmed && $event !== 'zeroevents.confirmed') {
        [$name, $replyFrames] = pull($socket, $routed, false);
        return array_merge([$name], $replyFrames);
    }
    return null;
}

if ($mode === 'receive') {
    $idle = (int) ($argv[6] ?? 1000);
    $poll = new ZMQPoll();
    $poll->add($socket, ZMQ::POLL_IN);
    $readable = $writable = [];
    line(['ready' => true]);
    $received = 0;
    while (true) {
        $poll->poll($readable, $writable, $received ? $idle : -1);
        if (!$readable) {
            exit(0);
        }
        [$event, $frames, $payload] = pull($socket, $routed, $confirmed);
        $received++;
        // The '*' listener: every event is fired, whatever its name.
        line([
            'event' => $event,
            'frames' => array_map('bin2hex', $frames),
            'reencoded' => array_map(fn($v) => bin2hex((string) json_encode($v, FLAGS)), $payload),
        ]);
    }
} elseif ($mode === 'send') {
    line(['ready' => true]);
    while (($text = fgets(STDIN)) !== false) {
        $item = json_decode($text, true, 512, JSON_THROW_ON_ERROR);
        $raw = isset($item['raw']);
        $args = $raw ? array_map('hex2bin', $item['raw']) : $item['payload'];
        $sent = $raw ? array_merge([$item['event']], $args) : encode($item['event'], $args);
        $reply = push($socket, false, $confirmed, $item['event'], $args, null, $raw);
        line(['sent' => array_map('bin2hex', $sent),
              'reply' => $reply === null ? null : array_map('bin2hex', $reply)]);
    }
    exit(0);
}
fwrite(STDERR, "unknown mode $mode\n");
exit(2);
