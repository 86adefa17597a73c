<?php
// Sign a Nati Chat sign-in token for the person your site has logged in.
// HS256 JWT, no library needed: only hash_hmac, base64 and json_encode.

function nati_b64url(string $bytes): string
{
    return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
}

/**
 * @param array  $person ['role' => 'user'|'admin'|'worker', 'id' => your id for them,
 *                        'name' => ..., 'email' => ..., 'avatar_url' => optional]
 * @param string $kid    which key (Nati Chat's host_token_keys has the same kid => secret)
 */
function nati_chat_token(array $person, string $kid, string $secret,
                         string $issuer, string $audience, int $ttl = 120): string
{
    $now = time();
    $header = ['alg' => 'HS256', 'typ' => 'JWT', 'kid' => $kid];
    $claims = [
        'iss'   => $issuer,               // = host_token_issuer
        'aud'   => $audience,             // = host_token_audience
        'role'  => $person['role'],
        'sub'   => (string) $person['id'], // your id: with role, it is the identity
        'name'  => $person['name'],
        'email' => $person['email'],
        'iat'   => $now,
        'exp'   => $now + $ttl,           // at most host_token_max_lifetime_secs ahead
        'jti'   => bin2hex(random_bytes(16)), // unique: a token signs in once
    ];
    if (!empty($person['avatar_url'])) {
        $claims['avatar_url'] = $person['avatar_url'];
    }
    $signing_input = nati_b64url(json_encode($header)) . '.'
        . nati_b64url(json_encode($claims, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE));
    $signature = hash_hmac('sha256', $signing_input, $secret, true);
    return $signing_input . '.' . nati_b64url($signature);
}

// From the command line: php sign-token.php ROLE ID NAME EMAIL
// with HOST_CHAT_KID, HOST_CHAT_SECRET, HOST_CHAT_ISSUER and HOST_CHAT_AUDIENCE in the environment.
if (PHP_SAPI === 'cli' && isset($argv) && realpath($argv[0]) === __FILE__) {
    [, $role, $id, $name, $email] = $argv + [null, null, null, null, null];
    echo nati_chat_token(
        ['role' => $role, 'id' => $id, 'name' => $name, 'email' => $email],
        getenv('HOST_CHAT_KID'), getenv('HOST_CHAT_SECRET'),
        getenv('HOST_CHAT_ISSUER'), getenv('HOST_CHAT_AUDIENCE')
    ), "\n";
}
