<?php
// PHP's own serialize()/unserialize(), one value a line, for the php serializer's tests.
// "float": each stdin line is a double as 16 hex digits (little-endian); prints
// serialize() of it. "reserialize": each stdin line is a frame in hex; prints
// serialize(unserialize(frame)) in hex, or "refused" when PHP cannot read it
// (objects are not instantiated: allowed_classes false).
$mode = $argv[1] ?? '';
while (($line = fgets(STDIN)) !== false) {
    $line = rtrim($line, "\n");
    if ($mode === 'float') {
        echo serialize(unpack('e', hex2bin($line))[1]), "\n";
    } elseif ($mode === 'reserialize') {
        $frame = hex2bin($line);
        $value = @unserialize($frame, ['allowed_classes' => false]);
        $failed = $value === false && $frame !== serialize(false);
        echo $failed ? 'refused' : bin2hex(serialize($value)), "\n";
    } else {
        fwrite(STDERR, "usage: serialize_lines.php float|reserialize\n");
        exit(2);
    }
}
