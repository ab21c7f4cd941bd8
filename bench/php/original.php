<?php
// What the PHP original (ptrofimov/zeroevents) does per event, end to end, for
// bench/bench_peers.py: written for this bench (the original needs Laravel's
// Illuminate packages, which this machine cannot install), one class per part of the
// original, each doing the steps the original's does:
//
// - Dispatcher: Illuminate's event dispatcher, reached through a facade (__callStatic)
//   as the original calls it (Event::fire, Event::until, Event::firing): a stack of
//   firing names, listeners by name plus wildcard patterns matched with str_is
//   (preg_match), each called with call_user_func_array;
// - EventListener: __invoke pushes Event::firing() and func_get_args() on its socket;
// - EventSocket extends ZMQSocket: push (serializer, socket type check, sendMulti),
//   pull (recvMulti, socket type check, decode, array_add of the address, the
//   confirmed check), pullAndFire (array_get, Event::until);
// - JsonSerializer: array_map of a closure calling json_encode / json_decode;
// - EventService: ZMQPoll over the sockets, pullAndFire per readable socket, stopped
//   by the 'zeroevents.service.stop' event.
//
//   php original.php consume ENDPOINT N   binds PULL, prints "ready", then, after N
//                                         events, the seconds from the first to the last
//   php original.php produce ENDPOINT N   connects PUSH, fires N events
require __DIR__ . '/order.php';

class Dispatcher
{
    private array $listeners = [];
    private array $wildcards = [];
    private array $sorted = [];
    private array $firing = [];

    public function listen(string $event, callable $listener): void
    {
        if (str_contains($event, '*')) {
            $this->wildcards[$event][] = $listener;
        } else {
            $this->listeners[$event][] = $listener;
            unset($this->sorted[$event]);
        }
    }

    public function firing(): ?string
    {
        return end($this->firing) ?: null;
    }

    public function until(string $event, $payload = [])
    {
        return $this->fire($event, $payload, true);
    }

    public function fire(string $event, $payload = [], bool $halt = false)
    {
        $responses = [];
        if (!is_array($payload)) {
            $payload = [$payload];
        }
        $this->firing[] = $event;
        foreach ($this->getListeners($event) as $listener) {
            $response = call_user_func_array($listener, $payload);
            if (!is_null($response) && $halt) {
                array_pop($this->firing);
                return $response;
            }
            if ($response === false) {
                break;
            }
            $responses[] = $response;
        }
        array_pop($this->firing);
        return $halt ? null : $responses;
    }

    private function getListeners(string $event): array
    {
        $wildcards = [];
        foreach ($this->wildcards as $pattern => $listeners) {
            if (str_is($pattern, $event)) {
                $wildcards = array_merge($wildcards, $listeners);
            }
        }
        if (!isset($this->sorted[$event])) {
            $this->sorted[$event] = $this->listeners[$event] ?? [];
        }
        return array_merge($this->sorted[$event], $wildcards);
    }
}

function str_is(string $pattern, string $value): bool
{
    if ($pattern === $value) {
        return true;
    }
    $pattern = str_replace('\*', '.*', preg_quote($pattern, '#')) . '\z';
    return (bool) preg_match('#^' . $pattern . '#', $value);
}

function array_get(array $array, ?string $key, $default = null)
{
    if (is_null($key)) {
        return $array;
    }
    if (isset($array[$key])) {
        return $array[$key];
    }
    foreach (explode('.', $key) as $segment) {
        if (!is_array($array) || !array_key_exists($segment, $array)) {
            return $default;
        }
        $array = $array[$segment];
    }
    return $array;
}

function array_add(array $array, string $key, $value): array
{
    if (is_null(array_get($array, $key))) {
        $array[$key] = $value;
    }
    return $array;
}

final class Event
{
    public static Dispatcher $root;

    public static function __callStatic(string $method, array $arguments)
    {
        return static::$root->$method(...$arguments);
    }
}

class JsonSerializer
{
    public function serialize(array $payload): array
    {
        return array_map(fn($value) => json_encode($value, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE), $payload);
    }

    public function unserialize(array $frames): array
    {
        return array_map(fn($frame) => json_decode($frame, true), $frames);
    }
}

class EventSocket extends ZMQSocket
{
    private bool $confirmed = false;
    private JsonSerializer $serializer;

    public function setSerializer(JsonSerializer $serializer): self
    {
        $this->serializer = $serializer;
        return $this;
    }

    public function push(string $event, array $payload = [], $address = null)
    {
        $frames = array_merge([$event], $this->serializer->serialize($payload));
        if ($this->getSocketType() == ZMQ::SOCKET_ROUTER) {
            array_unshift($frames, $address);
        }
        if ($this->sendMulti($frames) === false) {
            return Event::until('zeroevents.push.error', [$this, $event, $payload, $address]);
        }
        if ($this->confirmed && $event != 'zeroevents.confirmed') {
            return $this->pull();
        }
        return null;
    }

    public function pull()
    {
        if (($frames = $this->recvMulti()) === false) {
            return Event::until('zeroevents.pull.error', $this);
        }
        $address = $this->getSocketType() == ZMQ::SOCKET_ROUTER ? array_shift($frames) : null;
        $event = array_shift($frames);
        $message = array_add(['event' => $event, 'payload' => $this->serializer->unserialize($frames)], 'address', $address);
        if ($this->confirmed && $message['event'] != 'zeroevents.confirmed') {
            $this->push('zeroevents.confirmed', [$message['event']], $message['address']);
        }
        return $message;
    }

    public function pullAndFire()
    {
        if ($event = array_get($message = $this->pull(), 'event')) {
            return Event::until($event, array_get($message, 'payload', []));
        }
        return null;
    }
}

class EventListener
{
    private ?ZMQContext $context = null;
    private ?EventSocket $socket = null;

    public function __construct(private array $options)
    {
    }

    public function socket(): EventSocket
    {
        if (!$this->socket) {
            $this->context ??= new ZMQContext(1, false);
            $socket = new EventSocket($this->context, $this->options['socket_type']);
            foreach ((array) ($this->options['bind'] ?? []) as $dsn) {
                $socket->bind($dsn);
            }
            foreach ((array) ($this->options['connect'] ?? []) as $dsn) {
                $socket->connect($dsn);
            }
            $this->socket = $socket->setSerializer(new JsonSerializer());
        }
        return $this->socket;
    }

    public function __invoke()
    {
        return $this->socket()->push(Event::firing(), func_get_args());
    }
}

class EventService
{
    private array $listen = [];

    public function listen(EventListener $listener): self
    {
        $this->listen[] = $listener->socket();
        return $this;
    }

    public function run(): void
    {
        $poll = new ZMQPoll();
        $readable = $writable = [];
        foreach ($this->listen as $socket) {
            $poll->add($socket, ZMQ::POLL_IN);
        }
        $processing = true;
        Event::listen('zeroevents.service.stop', function () use (&$processing) {
            $processing = false;
        });
        while ($processing) {
            $poll->poll($readable, $writable, -1);
            foreach ($readable as $socket) {
                $socket->pullAndFire();
            }
            if (!$readable) {
                Event::fire('zeroevents.service.idle', $this);
            }
        }
    }
}

[$script, $role, $endpoint, $n] = $argv;
$n = (int) $n;
Event::$root = new Dispatcher();
if ($role === 'consume') {
    $listener = new EventListener(['socket_type' => ZMQ::SOCKET_PULL, 'bind' => $endpoint]);
    $service = (new EventService())->listen($listener);
    $count = 0;
    $first = 0;
    Event::listen('orders.created', function (array $order) use (&$count, &$first, $n) {
        if (++$count === 1) {
            $first = hrtime(true);
        }
        if ($count === $n) {
            printf("%.9f\n", (hrtime(true) - $first) / 1e9);
            Event::fire('zeroevents.service.stop');
        }
    });
    echo "ready\n";
    $service->run();
} else {
    Event::listen('orders.*', new EventListener(['socket_type' => ZMQ::SOCKET_PUSH, 'connect' => $endpoint]));
    $order = bench_order();
    for ($i = 0; $i < $n; $i++) {
        Event::fire('orders.created', [$order]);
    }
}
