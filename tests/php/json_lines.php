<?php
// The original's json_encode, one value a line, for the project's JSON tests.
// "encode": each stdin line is a double as 16 hex digits (little-endian); prints
// json_encode of it. "reencode": each stdin line is a JSON text; prints
// json_encode(json_decode(line)). "depth": prints whether json_decode reads the line.
const FLAGS = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE;

$mode = $argv[1] ?? '';
while (($line = fgets(STDIN)) !== false) {
    $line = rtrim($line, "\n");
    if ($mode === 'encode') {
        $value = unpack('e', hex2bin($line))[1];
    } elseif ($mode === 'depth') {
        echo json_decode($line) === null ? "refused" : "ok", "\n";
        continue;
    } elseif ($mode === 'reencode') {
        $value = json_decode($line, false, 512, JSON_THROW_ON_ERROR);
    } else {
        fwrite(STDERR, "usage: json_lines.php encode|reencode|depth\n");
        exit(2);
    }
    echo json_encode($value, FLAGS | JSON_THROW_ON_ERROR), "\n";
}
