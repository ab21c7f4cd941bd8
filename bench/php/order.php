<?php
// The order every bench sends (bench/bench_peers.py ORDER).
function bench_order(): array
{
    return [
        'id' => 12345,
        'customer' => [
            'id' => '6f1c1f5e-8d2b-4c8e-9a51-6c1f1d1e2a3b',
            'name' => 'Ada Lovelace',
            'email' => 'ada@example.com',
        ],
        'items' => [
            ['sku' => 'BOO-1001', 'quantity' => 1, 'price' => 12.5],
            ['sku' => 'PEN-7007', 'quantity' => 3, 'price' => 1.2],
        ],
        'total' => 16.1,
        'currency' => 'EUR',
        'created_at' => '2026-11-26T12:00:00Z',
    ];
}
