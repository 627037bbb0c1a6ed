<?php
// The bench's PHP-FPM + PDO peer: GET and PATCH of /api/v1/clients/{id},
// written the way a hosting provider would write them in PHP, so that
// ./dev bench can compare clientsd with what it would replace.  It does
// the work clientsd does for those two requests (bench/README.md says
// why the comparison is fair):
//
//   every request  SET time_zone (PDO's persistent connection outlives the
//                  request, but PHP's statics do not)
//   GET            one SELECT of the row
//   PATCH          START TRANSACTION; SELECT ... FOR UPDATE; an UPDATE of
//                  the columns whose value changes (version + 1,
//                  updated_at); one audit row with the old and new values;
//                  COMMIT
//
// with the body checked member by member before the database is touched,
// api_metadata merged (one level of RFC 7396 merge patch), secrets
// redacted in the audit, and the whole client in the answer.  It is a
// peer for the bench, not a second implementation of the API: other
// paths and methods get 404/405.

const WRITABLE = ['name', 'status', 'domain', 'email', 'phone', 'website', 'timezone',
                  'global_name', 'company_id', 'agency_id', 'api_metadata',
                  'ghl_location_id', 'proxy_api_key'];
const SECRET = ['proxy_api_key'];
const ID_RE = '/^[a-zA-Z0-9_-]{1,255}$/';
const PATTERNS = [
    'company_id' => ID_RE,
    'agency_id' => ID_RE,
    'ghl_location_id' => ID_RE,
    'global_name' => '/^[A-Za-z_$][A-Za-z0-9_$]{0,254}$/',
    'proxy_api_key' => '/^[\x21-\x7e]{1,255}$/',
    'domain' => '/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]*[a-z][a-z0-9-]*$/',
    'phone' => '/^\+[1-9][0-9 ().-]{5,24}$/',
    'timezone' => '/^[A-Za-z0-9._+\/-]{1,64}$/',
];

final class Answer extends Exception
{
    public function __construct(public int $status, public array $body,
                                public array $headers = [])
    {
        parent::__construct('');
    }
}

function problem(int $status, string $error, array $details = [], array $headers = []): Answer
{
    $body = ['success' => false, 'data' => null, 'error' => $error, 'count' => 0];
    if ($details !== [])
        $body['details'] = $details;
    return new Answer($status, $body, $headers);
}

function send(Answer $a): void
{
    http_response_code($a->status);
    header('Content-Type: application/json; charset=utf-8');
    header('Cache-Control: no-store');
    foreach ($a->headers as $h)
        header($h);
    echo json_encode($a->body, JSON_UNESCAPED_SLASHES);
}

function connection(): PDO
{
    $dsn = getenv('PEER_DSN') ?: 'mysql:unix_socket=/run/mysqld/mysqld.sock;dbname=peer;charset=utf8mb4';
    $pdo = new PDO($dsn, getenv('PEER_USER') ?: 'peer', getenv('PEER_PASS') ?: 'peer', [
        PDO::ATTR_PERSISTENT => true,
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
        PDO::ATTR_EMULATE_PREPARES => false,
    ]);
    $pdo->exec("SET time_zone = '+00:00'");
    return $pdo;
}

function iso(string $datetime): string
{
    return str_replace(' ', 'T', $datetime) . 'Z';
}

// The stored row as the API's client object, members in the API's order.
function client_of(array $row): array
{
    $out = ['id' => $row['id'], 'name' => $row['name'], 'status' => (bool)$row['status'],
            'publishable_key' => $row['publishable_key'], 'secret_key' => $row['secret_key']];
    foreach (['domain', 'email', 'phone', 'website', 'timezone', 'global_name',
              'company_id', 'agency_id'] as $m)
        $out[$m] = $row[$m];
    $out['api_metadata'] = json_decode($row['api_metadata'], false);
    $out['ghl_location_id'] = $row['ghl_location_id'];
    $out['proxy_api_key'] = $row['proxy_api_key'];
    $out['created_at'] = iso($row['created_at']);
    $out['updated_at'] = iso($row['updated_at']);
    return $out;
}

// The problem with one member's value, or null.
function check_member(string $m, mixed $v): ?array
{
    $bad = fn(string $code, string $msg) => ['field' => $m, 'code' => $code, 'message' => $msg];
    switch ($m) {
    case 'status':
        return is_bool($v) ? null : $bad('invalid_type', 'must be a boolean');
    case 'api_metadata':
        return ($v instanceof stdClass || is_array($v)) ? null : $bad('invalid_type', 'must be an object');
    }
    if ($v === null)
        return $m === 'name' ? $bad('required', 'must not be null') : null;
    if (!is_string($v))
        return $bad('invalid_type', 'must be a string');
    switch ($m) {
    case 'name':
        $n = mb_strlen(trim($v));
        return ($n >= 1 && $n <= 255) ? null : $bad('invalid_length', 'must be 1-255 characters');
    case 'email':
        return (strlen($v) <= 254 && filter_var($v, FILTER_VALIDATE_EMAIL)) ? null
            : $bad('invalid_email', 'must be a valid e-mail address');
    case 'website':
        $u = parse_url($v);
        $ok = strlen($v) <= 2048 && $u !== false && !empty($u['host']) &&
            in_array($u['scheme'] ?? '', ['http', 'https'], true);
        return $ok ? null : $bad('invalid_url', 'must be an http(s) URL');
    case 'timezone':
        if ($v !== 'UTC' && !in_array($v, DateTimeZone::listIdentifiers(DateTimeZone::ALL_WITH_BC), true))
            return $bad('invalid_timezone', 'must be an IANA time zone');
        break;
    }
    if (isset(PATTERNS[$m]) && !preg_match(PATTERNS[$m], $m === 'domain' ? strtolower($v) : $v))
        return $bad('invalid_format', 'must match the member\'s format');
    return null;
}

// The checked changes of a PATCH body: [member => value].
function changes_of(string $raw): array
{
    if (strlen($raw) > 65536)
        throw problem(413, 'Payload too large');
    $body = json_decode($raw, false, 32);
    if (!($body instanceof stdClass))
        throw problem(400, 'Invalid JSON');
    $changes = [];
    $problems = [];
    foreach (get_object_vars($body) as $m => $v) {
        if (!in_array($m, WRITABLE, true)) {
            $problems[] = ['field' => $m, 'code' => 'unknown_field', 'message' => 'must be a writable member'];
            continue;
        }
        $p = check_member($m, $v);
        if ($p !== null)
            $problems[] = $p;
        $changes[$m] = $v;
    }
    if ($problems !== [])
        throw problem(400, 'Validation failed', $problems);
    if ($changes === [])
        throw problem(400, 'No valid fields provided');
    return $changes;
}

// The value a member will be stored as, given the stored row.
function stored_value(string $m, mixed $v, array $row): mixed
{
    switch ($m) {
    case 'status':
        return $v ? 1 : 0;
    case 'api_metadata':
        $merged = json_decode($row['api_metadata'], true) ?: [];
        foreach ((array)$v as $k => $x) {
            if ($x === null)
                unset($merged[$k]);
            else
                $merged[$k] = $x;
        }
        return json_encode((object)$merged, JSON_UNESCAPED_SLASHES);
    case 'domain':
        return $v === null ? null : strtolower($v);
    case 'name':
        return trim($v);
    }
    return $v;
}

function read_client(PDO $pdo, string $id): Answer
{
    $q = $pdo->prepare('SELECT * FROM peer_clients WHERE id = ?');
    $q->execute([$id]);
    $row = $q->fetch(PDO::FETCH_ASSOC);
    if ($row === false)
        return problem(404, 'Client not found');
    return new Answer(200, ['success' => true, 'data' => client_of($row)]);
}

// One PATCH transaction; a deadlock or lock wait timeout runs it again
// (three times at most), anything else is a 503.
function patch_client(PDO $pdo, string $id, array $changes): Answer
{
    for ($attempt = 1; ; $attempt++) {
        try {
            return patch_once($pdo, $id, $changes);
        } catch (PDOException $e) {
            if ($pdo->inTransaction())
                $pdo->rollBack();
            $errno = $e->errorInfo[1] ?? 0;
            if ($e->getCode() == 23000)
                return problem(409, 'Conflict');
            if (($errno == 1213 || $errno == 1205) && $attempt <= 3)
                continue;
            return problem(503, 'Service unavailable', [], ['Retry-After: 1']);
        }
    }
}

function patch_once(PDO $pdo, string $id, array $changes): Answer
{
    $pdo->beginTransaction();
    $lock = $pdo->prepare('SELECT *, NOW(3) AS now3 FROM peer_clients WHERE id = ? FOR UPDATE');
    $lock->execute([$id]);
    $row = $lock->fetch(PDO::FETCH_ASSOC);
    if ($row === false) {
        $pdo->rollBack();
        return problem(404, 'Client not found');
    }
    $set = [];
    $args = [];
    $audit = [];
    foreach ($changes as $m => $v) {
        $new = stored_value($m, $v, $row);
        if (($row[$m] === null) === ($new === null) && (string)$row[$m] === (string)$new)
            continue;                       // unchanged: not written
        $secret = in_array($m, SECRET, true);
        $audit[$m] = ['old' => $secret ? '<redacted>' : $row[$m],
                      'new' => $secret ? '<redacted>' : $new];
        $set[] = "`$m` = ?";
        $args[] = $new;
        $row[$m] = $new;
    }
    if ($set !== []) {
        $row['updated_at'] = $row['now3'];
        $pdo->prepare('UPDATE peer_clients SET ' . implode(', ', $set) .
                      ', version = version + 1, updated_at = ? WHERE id = ?')
            ->execute([...$args, $row['now3'], $id]);
        $pdo->prepare('INSERT INTO peer_audit (client_id, action, request_id, changes, at) ' .
                      'VALUES (?, \'update\', ?, ?, ?)')
            ->execute([$id, $_SERVER['HTTP_X_REQUEST_ID'] ?? bin2hex(random_bytes(8)),
                       json_encode($audit), $row['now3']]);
    }
    $pdo->commit();
    return new Answer(200, ['success' => true, 'data' => client_of($row)]);
}

function handle(): Answer
{
    $path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);
    if (!preg_match('#^/api/v1/clients/([^/]+)$#', (string)$path, $m))
        return problem(404, 'Not found');
    $id = rawurldecode($m[1]);
    if (!preg_match(ID_RE, $id))
        return problem(400, 'Invalid client id');
    $key = getenv('PEER_ADMIN_KEY') ?: 'peer-admin-key';
    if (!preg_match('/^Bearer\s+(\S+)$/i', $_SERVER['HTTP_AUTHORIZATION'] ?? '', $auth) ||
        !hash_equals($key, $auth[1]))
        return problem(401, 'Unauthorized', [], ['WWW-Authenticate: Bearer realm="admin"']);
    $method = $_SERVER['REQUEST_METHOD'] ?? 'GET';
    if ($method === 'GET')
        return read_client(connection(), $id);
    if ($method !== 'PATCH')
        return problem(405, 'Method not allowed', [], ['Allow: GET, PATCH']);
    if (stripos($_SERVER['CONTENT_TYPE'] ?? '', 'application/json') !== 0)
        return problem(415, 'Unsupported media type');
    $changes = changes_of((string)file_get_contents('php://input'));
    return patch_client(connection(), $id, $changes);
}

try {
    send(handle());
} catch (Answer $a) {
    send($a);
}
