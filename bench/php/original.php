<?php
// What the PHP original (ptrofimov/zeroevents) does per event, end to end, for
// bench/bench_peers.py: written for this bench (the original needs Laravel's
// Illuminate packages, which this machine cannot install), one class per part of the
// original, each doing the steps the original's does:
//
// - Dispatcher: Illuminate's event dispatcher, reached through a facade (__callStatic)
//   as the original calls it (Event::fire, Event::until, Event::firing): a stack of
//   firing names, listeners by name plus wildcard patterns matched with str_is
//   (preg_match), each called with call_user_func_array; Illuminate\Support's Arr and
//   Str helpers as the original reaches them (array_get, array_add, Str::is, last,
//   value), checked against illuminate/events and illuminate/support 5.3 (the last
//   the original's composer.json allows);
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

interface ShouldBroadcast
{
}

// Illuminate's Dispatcher (5.3, the last the original allows): listeners by priority,
// sorted and cached per name, wildcards matched with Str::is at every fire.
class Dispatcher
{
    private array $listeners = [];
    private array $wildcards = [];
    private array $sorted = [];
    private array $firing = [];

    public function listen(string $event, callable $listener, int $priority = 0): void
    {
        if (str_contains($event, '*')) {
            $this->wildcards[$event][] = $listener;
        } else {
            $this->listeners[$event][$priority][] = $listener;
            unset($this->sorted[$event]);
        }
    }

    public function firing()
    {
        return last($this->firing);
    }

    public function until($event, $payload = [])
    {
        return $this->fire($event, $payload, true);
    }

    public function fire($event, $payload = [], bool $halt = false)
    {
        if (is_object($event)) {
            [$payload, $event] = [[$event], get_class($event)];
        }
        $responses = [];
        if (!is_array($payload)) {
            $payload = [$payload];
        }
        $this->firing[] = $event;
        if (isset($payload[0]) && $payload[0] instanceof ShouldBroadcast) {
            throw new LogicException('no broadcasting in this bench');
        }
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

    public function getListeners(string $eventName): array
    {
        $wildcards = $this->getWildcardListeners($eventName);
        if (!isset($this->sorted[$eventName])) {
            $this->sortListeners($eventName);
        }
        return array_merge($this->sorted[$eventName], $wildcards);
    }

    private function getWildcardListeners(string $eventName): array
    {
        $wildcards = [];
        foreach ($this->wildcards as $key => $listeners) {
            if (Str::is($key, $eventName)) {
                $wildcards = array_merge($wildcards, $listeners);
            }
        }
        return $wildcards;
    }

    private function sortListeners(string $eventName): void
    {
        $listeners = $this->listeners[$eventName] ?? [];
        if (class_exists($eventName, false)) {
            foreach (class_implements($eventName) as $interface) {
                if (isset($this->listeners[$interface])) {
                    $listeners = array_merge_recursive($listeners, $this->listeners[$interface]);
                }
            }
        }
        if ($listeners) {
            krsort($listeners);
            $this->sorted[$eventName] = call_user_func_array('array_merge', array_values($listeners));
        } else {
            $this->sorted[$eventName] = [];
        }
    }
}

// Illuminate\Support's Str::is and Arr (get, set, add) with their global helpers, as
// the original calls them: each lookup through accessible/exists, each default
// through value().
final class Str
{
    public static function is(string $pattern, string $value): bool
    {
        if ($pattern == $value) {
            return true;
        }
        $pattern = str_replace('\*', '.*', preg_quote($pattern, '#'));
        return (bool) preg_match('#^' . $pattern . '\z#u', $value);
    }
}

final class Arr
{
    public static function accessible($value): bool
    {
        return is_array($value) || $value instanceof ArrayAccess;
    }

    public static function exists($array, $key): bool
    {
        if ($array instanceof ArrayAccess) {
            return $array->offsetExists($key);
        }
        return array_key_exists($key, $array);
    }

    public static function get($array, $key, $default = null)
    {
        if (!static::accessible($array)) {
            return value($default);
        }
        if (is_null($key)) {
            return $array;
        }
        if (static::exists($array, $key)) {
            return $array[$key];
        }
        foreach (explode('.', $key) as $segment) {
            if (static::accessible($array) && static::exists($array, $segment)) {
                $array = $array[$segment];
            } else {
                return value($default);
            }
        }
        return $array;
    }

    public static function set(&$array, $key, $value)
    {
        if (is_null($key)) {
            return $array = $value;
        }
        $keys = explode('.', $key);
        while (count($keys) > 1) {
            $key = array_shift($keys);
            if (!isset($array[$key]) || !is_array($array[$key])) {
                $array[$key] = [];
            }
            $array = &$array[$key];
        }
        $array[array_shift($keys)] = $value;
        return $array;
    }

    public static function add($array, $key, $value)
    {
        if (is_null(static::get($array, $key))) {
            static::set($array, $key, $value);
        }
        return $array;
    }
}

function array_get($array, $key, $default = null)
{
    return Arr::get($array, $key, $default);
}

function array_add($array, $key, $value)
{
    return Arr::add($array, $key, $value);
}

function last($array)
{
    return end($array);
}

function value($value)
{
    return $value instanceof Closure ? $value() : $value;
}

// Illuminate's Facade: each static call resolves the root by its accessor (cached in
// resolvedInstance, first taken from the application container).
abstract class Facade
{
    public static array $app = [];
    protected static array $resolvedInstance = [];

    abstract protected static function getFacadeAccessor();

    public static function getFacadeRoot()
    {
        return static::resolveFacadeInstance(static::getFacadeAccessor());
    }

    protected static function resolveFacadeInstance($name)
    {
        if (is_object($name)) {
            return $name;
        }
        if (isset(static::$resolvedInstance[$name])) {
            return static::$resolvedInstance[$name];
        }
        return static::$resolvedInstance[$name] = static::$app[$name];
    }

    public static function __callStatic(string $method, array $args)
    {
        $instance = static::getFacadeRoot();
        if (!$instance) {
            throw new RuntimeException('A facade root has not been set.');
        }
        return $instance->$method(...$args);
    }
}

final class Event extends Facade
{
    protected static function getFacadeAccessor()
    {
        return 'events';
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
        $frames = $this->encode($event, $payload);
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
        $message = array_add($this->decode($frames), 'address', $address);
        if ($this->confirmed && $message['event'] != 'zeroevents.confirmed') {
            $this->push('zeroevents.confirmed', [$message['event']], $message['address']);
        }
        return $message;
    }

    public function encode(string $event, array $payload): array
    {
        return array_merge([$event], $this->serializer->serialize($payload));
    }

    public function decode(array $frames): array
    {
        return ['event' => array_shift($frames), 'payload' => $this->serializer->unserialize($frames)];
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
            foreach ($this->options['socket_options'] ?? [] as $option => $value) {
                $socket->setSockOpt($option, $value);
            }
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
Facade::$app['events'] = new Dispatcher();
if ($role === 'consume') {
    $listener = new EventListener([
        'socket_type' => ZMQ::SOCKET_PULL,
        'bind' => $endpoint,
        'socket_options' => [ZMQ::SOCKOPT_RCVHWM => 0], // as every consumer of bench_peers.py
    ]);
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
