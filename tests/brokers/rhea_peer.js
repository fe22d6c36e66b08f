#!/usr/bin/env node
// An AMQP 1.0 peer built on rhea (not Proton), driven by tests/brokers/test_rhea.py.
//
// Usage: NODE_PATH=$(tests/brokers/rhea.sh) node tests/brokers/rhea_peer.js CONFIG_JSON
//
// CONFIG_JSON (one JSON object):
//   role          "listen" (accept connections) or "connect" (open one connection)
//   host, port    where to listen (port 0: ephemeral, reported) or connect
//   container_id  the AMQP container-id of this peer
//   tls           {key, cert, ca, servername, request_cert}: file paths; TLS transport
//   sasl_plain    listen: {user, password} accepted by the PLAIN mechanism (PLAIN only);
//                 connect: {user, password} to authenticate with
//   credit        receivers this peer accepts get exactly this much credit once
//                 (more only with the "flow" command); null: rhea's own window
//   decide        "subject" (a message's subject says accept, reject, release,
//                 modify, hold) or "accept" (the default)
//
// Commands, one JSON object a line on stdin ("op" says which):
//   open_sender   {name, target}
//   open_receiver {name, source, credit}
//   send          {link, tag, message} or {link, tags, messages}: link is a link
//                 name or a terminus address; sent only while the link has credit
//   offer         {source, messages}      queue messages for links with that source
//   flow          {link, credit}          link: a name or a terminus address
//   close         close every connection and the listener, then exit
// End of stdin means "close" too.
//
// Events, one JSON object a line on stdout ("event" says which): listening,
// connection_open, connection_error, connection_close, disconnected, sasl,
// link_open, link_close, credit_granted, flow, sent, blocked, message, decided,
// outcome, error, closed. See the handlers below for their fields.
//
// Messages are described by JSON specs ({subject, reply_to, to, message_id,
// correlation_id, annotations, properties, body | data | sequence | big}) whose
// values are typed: {"t": "uint", "v": "7"}, {"t": "list", "v": [...]}, ...
// The same notation is used to report what arrived (a canonical dump of the
// bytes, as rhea's own decoder reads them), so the tests can compare types and
// values exactly, and each section's bytes are reported in hex.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const readline = require('readline');
const rhea = require('rhea');

const types = rhea.types;
const messageCodec = rhea.message;

const config = JSON.parse(process.argv[2] || '{}');
const SMALL = 64 * 1024; // sections larger than this are reported by hash only

let seq = 0;
function emit(event, fields) {
    process.stdout.write(JSON.stringify(Object.assign({ event: event, seq: seq++ }, fields)) + '\n');
}

process.on('uncaughtException', (error) => {
    emit('error', { where: 'uncaught', error: String(error && error.stack ? error.stack : error) });
    process.exit(70);
});

// ------------------------------------------------------------- raw bytes in

// rhea hands the application only the decoded message, and its decoder is
// lossy (maps become objects, nested descriptors are dropped). Keep the raw
// bytes of every message next to it, so this peer can report them and dump
// them with rhea's own Reader.
const originalDecode = messageCodec.decode;
messageCodec.decode = function (buffer) {
    const decoded = originalDecode(buffer);
    Object.defineProperty(decoded, '__raw', { value: buffer, enumerable: false });
    return decoded;
};

// ------------------------------------------------------ typed spec <-> rhea

const NAMES = {
    Null: 'null', Boolean: 'bool', True: 'bool', False: 'bool',
    Ubyte: 'ubyte', Ushort: 'ushort', Uint: 'uint', SmallUint: 'uint', Uint0: 'uint',
    Ulong: 'ulong', SmallUlong: 'ulong', Ulong0: 'ulong',
    Byte: 'byte', Short: 'short', Int: 'int', SmallInt: 'int', Long: 'long', SmallLong: 'long',
    Float: 'float', Double: 'double',
    Decimal32: 'decimal32', Decimal64: 'decimal64', Decimal128: 'decimal128',
    CharUTF32: 'char', Timestamp: 'timestamp', Uuid: 'uuid',
    Vbin8: 'binary', Vbin32: 'binary', Str8: 'string', Str32: 'string',
    Sym8: 'symbol', Sym32: 'symbol', List0: 'list', List8: 'list', List32: 'list',
    Map8: 'map', Map32: 'map', Array8: 'array', Array32: 'array',
};

// Element constructors inside arrays: the full-width encodings, as Proton writes them.
const ARRAY_CODES = {
    bool: 0x56, ubyte: 0x50, ushort: 0x60, uint: 0x70, ulong: 0x80,
    byte: 0x51, short: 0x61, int: 0x71, long: 0x81, float: 0x72, double: 0x82,
    decimal32: 0x74, decimal64: 0x84, decimal128: 0x94, char: 0x73, timestamp: 0x83,
    uuid: 0x98, binary: 0xb0, string: 0xb1, symbol: 0xb3, list: 0xd0, map: 0xd1,
};

function hexToBuffer(hex) { return Buffer.from(hex, 'hex'); }

function u64(text) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(text));
    return b;
}

function i64(text) {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(BigInt(text));
    return b;
}

function safe(text) {
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : null;
}

// A spec's raw value, as rhea's writer expects it for the fixed-width typecode.
function rawValue(spec) {
    const v = spec.v;
    switch (spec.t) {
    case 'bool': return v ? 1 : 0;
    case 'ubyte': case 'ushort': case 'uint': case 'byte': case 'short': case 'int':
    case 'char':
        return Number(v);
    case 'ulong': return safe(v) !== null && Number(v) >= 0 ? Number(v) : u64(v);
    case 'long': case 'timestamp': return safe(v) !== null ? Number(v) : i64(v);
    case 'float': return hexToBuffer(v).readFloatBE(0);
    case 'double': return hexToBuffer(v).readDoubleBE(0);
    case 'decimal32': case 'decimal64': case 'decimal128': case 'uuid': case 'binary':
        return hexToBuffer(v);
    case 'string': case 'symbol': return v;
    case 'list': return v.map(build);
    case 'map': return [].concat(...v.map((pair) => [build(pair[0]), build(pair[1])]));
    default: throw new Error('no raw array element for ' + spec.t);
    }
}

// A spec as a rhea Typed value, encoded the way Proton encodes it (smallest
// encoding for ints, list32/map32 for compounds).
function build(spec) {
    const v = spec.v;
    switch (spec.t) {
    case 'null': return types.Null();
    case 'bool': return types.wrap_boolean(v);
    case 'ubyte': return types.Ubyte(Number(v));
    case 'ushort': return types.Ushort(Number(v));
    case 'uint': return types.wrap_uint(Number(v));
    case 'ulong': return types.wrap_ulong(rawValue(spec));
    case 'byte': return types.Byte(Number(v));
    case 'short': return types.Short(Number(v));
    case 'int': return types.wrap_int(Number(v));
    case 'long': return types.wrap_long(rawValue(spec));
    case 'float': return types.Float(rawValue(spec));
    case 'double': return types.Double(rawValue(spec));
    case 'decimal32': return types.Decimal32(hexToBuffer(v));
    case 'decimal64': return types.Decimal64(hexToBuffer(v));
    case 'decimal128': return types.Decimal128(hexToBuffer(v));
    case 'char': return types.CharUTF32(Number(v));
    case 'timestamp': return types.Timestamp(rawValue(spec));
    case 'uuid': return types.Uuid(hexToBuffer(v));
    case 'binary': return types.wrap_binary(hexToBuffer(v));
    case 'string': return types.wrap_string(v);
    case 'symbol': return types.wrap_symbol(v);
    case 'list': return v.length ? types.List32(v.map(build)) : types.List0();
    case 'map': return types.Map32(rawValue(spec));
    case 'array': {
        const code = ARRAY_CODES[spec.et];
        if (code === undefined) throw new Error('no array of ' + spec.et);
        return types.Array32(v.map(rawValue), code, spec.d ? build(spec.d) : undefined);
    }
    case 'described': {
        if (spec.v.t === 'described') throw new Error('nested descriptors are not supported');
        const inner = build(spec.v);
        inner.descriptor = build(spec.d);
        return inner;
    }
    default: throw new Error('unknown type ' + spec.t);
    }
}

function intText(value, signed) {
    if (Buffer.isBuffer(value)) {
        return (signed ? value.readBigInt64BE(0) : value.readBigUInt64BE(0)).toString();
    }
    return String(value);
}

// A rhea Typed value (as its Reader returns it) as a spec.
function dump(typed) {
    if (typed.descriptor !== undefined) {
        const plain = Object.create(Object.getPrototypeOf(typed));
        Object.assign(plain, typed);
        delete plain.descriptor;
        return { t: 'described', d: dump(typed.descriptor), v: dump(plain) };
    }
    const t = NAMES[typed.type.name];
    const v = typed.value;
    switch (t) {
    case 'null': return { t: t };
    case 'bool': return { t: t, v: Boolean(v) };
    case 'ubyte': case 'ushort': case 'uint': case 'byte': case 'short': case 'int':
        return { t: t, v: String(v) };
    case 'ulong': return { t: t, v: intText(v, false) };
    case 'long': return { t: t, v: intText(v, true) };
    case 'timestamp': return { t: t, v: String(v.getTime()) };
    case 'char': return { t: t, v: v };
    case 'float': { const b = Buffer.alloc(4); b.writeFloatBE(v); return { t: t, v: b.toString('hex') }; }
    case 'double': { const b = Buffer.alloc(8); b.writeDoubleBE(v); return { t: t, v: b.toString('hex') }; }
    case 'decimal32': case 'decimal64': case 'decimal128': case 'uuid': case 'binary':
        return { t: t, v: v.toString('hex') };
    case 'string': case 'symbol': return { t: t, v: v };
    case 'list': return { t: t, v: v.map(dump) };
    case 'map': {
        const pairs = [];
        for (let i = 0; i + 1 < v.length; i += 2) pairs.push([dump(v[i]), dump(v[i + 1])]);
        return { t: t, v: pairs };
    }
    case 'array': {
        const out = { t: t, et: NAMES[types.by_code[typed.array_constructor.typecode].name], v: v.map(dump) };
        if (typed.array_constructor.descriptor) out.d = dump(typed.array_constructor.descriptor);
        return out;
    }
    default: throw new Error('cannot dump ' + typed.type.name);
    }
}

const SECTION_NAMES = {
    0x70: 'header', 0x71: 'delivery-annotations', 0x72: 'message-annotations',
    0x73: 'properties', 0x74: 'application-properties', 0x75: 'data',
    0x76: 'amqp-sequence', 0x77: 'amqp-value', 0x78: 'footer',
};

function sha256(buffer) { return crypto.createHash('sha256').update(buffer).digest('hex'); }

// Split raw message bytes into sections with rhea's Reader. A described body
// (0x77 around a described value) arrives as one constructor with two
// descriptors; Reader.read() keeps only the first, so read the constructor
// and the value separately and keep both.
function sections(raw) {
    const reader = new types.Reader(raw);
    const out = [];
    while (reader.remaining()) {
        const start = reader.position;
        const constructor = reader.read_constructor();
        const value = reader.read_value(types.by_code[constructor.typecode]);
        const descriptors = constructor.descriptors || [constructor.descriptor];
        const bytes = raw.subarray(start, reader.position);
        const code = Number(descriptors[0].value);
        const section = { code: code, name: SECTION_NAMES[code] || String(code), size: bytes.length, sha256: sha256(bytes) };
        if (bytes.length <= SMALL) {
            let spec = dump(value);
            for (let i = descriptors.length - 1; i >= 1; i--) spec = { t: 'described', d: dump(descriptors[i]), v: spec };
            section.hex = bytes.toString('hex');
            section.value = spec;
        }
        if (code === 0x75 || (code === 0x77 && Buffer.isBuffer(value.value) && NAMES[value.type.name] === 'binary')) {
            section.content_sha256 = sha256(value.value);
            section.content_size = value.value.length;
        }
        out.push(section);
    }
    return out;
}

function section(writer, code, typed) {
    writer.write_typecode(0x00);
    writer.write(types.wrap_ulong(code));
    writer.write(typed);
}

// Encode a message spec with rhea's Writer. The payload is assembled section by
// section (rather than with rhea's message.encode) because rhea cannot encode
// a described type as the whole body: it puts the amqp-value descriptor in
// place of the value's own. Every value is still encoded by rhea.
function encode(spec) {
    const writer = new types.Writer();
    if (spec.annotations) {
        section(writer, 0x72, types.Map32([].concat(...spec.annotations.map((p) => [build(p[0]), build(p[1])]))));
    }
    const props = {};
    for (const key of ['message_id', 'to', 'subject', 'reply_to', 'correlation_id']) {
        if (spec[key] !== undefined) props[key] = spec[key];
    }
    if (Object.keys(props).length) writer.write(messageCodec.properties(props).described());
    if (spec.properties) {
        section(writer, 0x74, types.Map32([].concat(...spec.properties.map((p) => [types.wrap_string(p[0]), build(p[1])]))));
    }
    if (spec.big !== undefined) {
        section(writer, 0x77, types.wrap_binary(crypto.randomBytes(spec.big)));
    } else if (spec.data !== undefined) {
        section(writer, 0x75, types.wrap_binary(hexToBuffer(spec.data)));
    } else if (spec.sequence !== undefined) {
        section(writer, 0x76, spec.sequence.length ? types.List32(spec.sequence.map(build)) : types.List0());
    } else {
        section(writer, 0x77, build(spec.body || { t: 'null' }));
    }
    return writer.toBuffer();
}

// ------------------------------------------------------------- bookkeeping

const container = rhea.create_container({ id: config.container_id || 'rhea-peer' });
const connections = new Map(); // id -> rhea connection
const named = new Map(); // link name -> link (links this peer opened)
const queues = new Map(); // link -> messages waiting for credit
const offers = new Map(); // source address -> messages for links that read it
const granted = new Map(); // receiver -> credit granted by this peer (explicit credit only)
const received = new Map(); // receiver -> messages received
let server = null;
let closing = false;

function connId(connection) { return connection.options.id; }

function address(terminus) { return terminus && terminus.address !== undefined ? terminus.address : null; }

function linkInfo(link) {
    return {
        conn: connId(link.connection),
        link: link.name,
        role: link.is_sender() ? 'sender' : 'receiver',
        source: address(link.source),
        target: address(link.target),
    };
}

// Delivery tags are binary: reported in hex.
function tagText(delivery) { return Buffer.from(delivery.tag).toString('hex'); }

function findLinks(key) {
    const found = [];
    if (named.has(key)) found.push(named.get(key));
    for (const connection of connections.values()) {
        for (const link of allLinks(connection)) {
            if (found.includes(link)) continue;
            if (link.name === key || address(link.source) === key || address(link.target) === key) found.push(link);
        }
    }
    return found;
}

function allLinks(connection) {
    const links = [];
    for (const k in connection.local_channel_map) {
        const session = connection.local_channel_map[k];
        for (const name in session.links) links.push(session.links[name]);
    }
    return links;
}

// ------------------------------------------------------------------ sending

// One transfer per event-loop turn: rhea takes a link's credit only when it
// writes the transfer (in a later tick), so sendable() stays true within a
// turn; sending in a loop would queue every message inside rhea and report
// them sent before the peer granted credit for them.
function pump(sender) {
    const queue = queues.get(sender);
    if (!queue || !queue.length || sender.__pump_scheduled) return;
    // rhea writes a session's transfers before its links' attach frames: when
    // the peer's attach and flow arrive together, a transfer sent at once on
    // the link rhea has just opened in answer goes out before that attach (the
    // peer then closes the connection: "no such handle"). Wait until the
    // attach is written (open_requests is rhea's count of attaches to write).
    if (sender.state.open_requests > 0) {
        schedule(sender);
        return;
    }
    if (!sender.sendable()) {
        emit('blocked', Object.assign(linkInfo(sender), { credit: sender.credit, waiting: queue.length, sent: sender.__sent || 0 }));
        return;
    }
    const item = queue.shift();
    const payload = encode(item.message);
    const tag = item.tag !== undefined ? Buffer.from(String(item.tag)) : undefined;
    const credit = sender.credit;
    // format 0 with a Buffer: rhea sends the payload as it is.
    const delivery = sender.send(payload, tag, 0);
    if (item.message.settled) delivery.settled = true;
    sender.__sent = (sender.__sent || 0) + 1;
    emit('sent', Object.assign(linkInfo(sender), {
        sent: sender.__sent,
        tag: tagText(delivery),
        delivery_id: delivery.id,
        sections: sections(payload),
        credit_left: credit - 1,
        waiting: queue.length,
    }));
    schedule(sender);
}

function schedule(sender) {
    sender.__pump_scheduled = true;
    setImmediate(() => {
        sender.__pump_scheduled = false;
        pump(sender);
    });
}

function enqueue(sender, items) {
    if (!queues.has(sender)) queues.set(sender, []);
    queues.get(sender).push(...items);
    pump(sender);
}

function outcome(name) {
    return (context) => {
        const d = context.delivery;
        const fields = Object.assign(linkInfo(context.sender), { tag: tagText(d), outcome: name, settled: d.remote_settled });
        const state = d.remote_state;
        if (name === 'rejected' && state && state.error) {
            fields.condition = state.error.condition;
            fields.description = state.error.description;
        }
        if (name === 'modified' && state) {
            fields.delivery_failed = Boolean(state.delivery_failed);
            fields.undeliverable_here = Boolean(state.undeliverable_here);
        }
        emit('outcome', fields);
    };
}
container.on('accepted', outcome('accepted'));
container.on('rejected', outcome('rejected'));
container.on('released', outcome('released'));
container.on('modified', outcome('modified'));

container.on('sender_open', (context) => {
    const sender = context.sender;
    emit('link_open', linkInfo(sender));
    const source = address(sender.source);
    if (source !== null && offers.has(source)) {
        enqueue(sender, offers.get(source).splice(0));
    }
});

container.on('sender_flow', (context) => {
    const sender = context.sender;
    emit('flow', Object.assign(linkInfo(sender), { credit: sender.credit, drain: Boolean(sender._draining) }));
    pump(sender);
    if (sender._draining && !(queues.get(sender) || []).length) {
        // Nothing to send: answer the drain (credit used up, flow back).
        sender.set_drained(true);
    }
});

container.on('sendable', (context) => pump(context.sender));

// ---------------------------------------------------------------- receiving

// rhea merges consecutive deliveries settled in one event-loop turn into one
// disposition range carrying the first one's outcome, even when their
// outcomes differ. Decide one delivery per turn.
const decisions = [];
let deciding = false;

function decideNext() {
    const next = decisions.shift();
    if (!next) {
        deciding = false;
        return;
    }
    const { delivery, how, info } = next;
    switch (how) {
    case 'accept': delivery.accept(); break;
    case 'reject':
        delivery.reject({ condition: 'amqp:precondition-failed', description: 'rejected by the rhea peer' });
        break;
    case 'release': delivery.release(); break;
    case 'modify': delivery.modified({ delivery_failed: true, undeliverable_here: false }); break;
    case 'modify-undeliverable': delivery.modified({ delivery_failed: true, undeliverable_here: true }); break;
    default: break;
    }
    emit('decided', Object.assign(info, { outcome: how }));
    setImmediate(decideNext);
}

function decide(delivery, how, info) {
    decisions.push({ delivery, how, info });
    if (!deciding) {
        deciding = true;
        setImmediate(decideNext);
    }
}

function grant(receiver, credit) {
    granted.set(receiver, (granted.get(receiver) || 0) + credit);
    receiver.add_credit(credit);
    emit('credit_granted', Object.assign(linkInfo(receiver), { credit: credit, total: granted.get(receiver) }));
}

container.on('receiver_open', (context) => {
    const receiver = context.receiver;
    emit('link_open', linkInfo(receiver));
    if (!named.has(receiver.name) && config.credit !== undefined && config.credit !== null) {
        grant(receiver, config.credit);
    }
});

container.on('message', (context) => {
    const receiver = context.receiver;
    const delivery = context.delivery;
    const msg = context.message;
    const count = (received.get(receiver) || 0) + 1;
    received.set(receiver, count);
    const raw = msg.__raw || Buffer.alloc(0);
    const info = Object.assign(linkInfo(receiver), { tag: tagText(delivery), delivery_id: delivery.id });
    const fields = Object.assign({}, info, {
        settled: Boolean(delivery.remote_settled),
        subject: msg.subject === undefined ? null : msg.subject,
        reply_to: msg.reply_to === undefined ? null : msg.reply_to,
        to: msg.to === undefined ? null : msg.to,
        message_id: msg.message_id === undefined ? null : msg.message_id,
        correlation_id: msg.correlation_id === undefined ? null : msg.correlation_id,
        size: raw.length,
        sha256: sha256(raw),
        sections: sections(raw),
        count: count,
        credit: receiver.credit,
    });
    if (granted.has(receiver)) {
        fields.granted = granted.get(receiver);
        fields.over_credit = count > granted.get(receiver);
    }
    emit('message', fields);
    if (delivery.remote_settled) return;
    const how = config.decide === 'subject' ? (msg.subject || 'accept') : 'accept';
    decide(delivery, how, info);
});

container.on('receiver_drained', (context) => emit('drained', linkInfo(context.receiver)));

// -------------------------------------------------------------- connections

function connectionOpen(context) {
    const connection = context.connection;
    connections.set(connId(connection), connection);
    const fields = {
        conn: connId(connection),
        remote_container_id: connection.remote.open.container_id,
        remote_hostname: connection.remote.open.hostname === undefined ? null : connection.remote.open.hostname,
        tls: Boolean(connection.socket && connection.socket.encrypted),
        max_frame_size: connection.remote.open.max_frame_size,
    };
    if (fields.tls && connection.socket.getProtocol) fields.tls_protocol = connection.socket.getProtocol();
    // A listener's SASL layer is rhea's Selective wrapper (ANONYMOUS allowed)
    // or its Server (a mechanism required); a client's is its Client.
    let sasl = connection.sasl_transport;
    if (sasl && sasl.transports) sasl = sasl.selected;
    fields.sasl_user = sasl && sasl.username !== undefined ? sasl.username : null;
    emit('connection_open', fields);
}

container.on('connection_open', connectionOpen);
container.on('connection_error', (context) => {
    const error = context.connection.error || context.error || {};
    emit('connection_error', { conn: connId(context.connection), condition: error.condition || null, description: error.description || null });
});
container.on('connection_close', (context) => {
    emit('connection_close', { conn: connId(context.connection) });
    if (!context.connection.is_closed()) context.connection.close();
});
container.on('disconnected', (context) => {
    connections.delete(connId(context.connection));
    emit('disconnected', { conn: connId(context.connection), error: context.error ? String(context.error.message || context.error) : null });
    maybeExit();
});
container.on('protocol_error', (error) => emit('error', { where: 'protocol', error: String(error) }));
container.on('error', (error) => emit('error', { where: 'container', error: String(error && error.message ? error.message : error), condition: error && error.condition ? error.condition : null }));
container.on('sender_close', (context) => emit('link_close', linkInfo(context.sender)));
container.on('receiver_close', (context) => emit('link_close', linkInfo(context.receiver)));
container.on('sender_error', (context) => emit('error', Object.assign(linkInfo(context.sender), { where: 'link', error: JSON.stringify(context.sender.error || null) })));
container.on('receiver_error', (context) => emit('error', Object.assign(linkInfo(context.receiver), { where: 'link', error: JSON.stringify(context.receiver.error || null) })));

function tlsOptions() {
    const tls = config.tls;
    const options = { transport: 'tls' };
    if (tls.key) options.key = fs.readFileSync(tls.key);
    if (tls.cert) options.cert = fs.readFileSync(tls.cert);
    if (tls.ca) options.ca = [fs.readFileSync(tls.ca)];
    if (tls.servername) options.servername = tls.servername;
    if (tls.request_cert) options.requestCert = true;
    options.rejectUnauthorized = tls.reject_unauthorized !== false;
    return options;
}

function linkOptions() {
    const options = { reconnect: false, autoaccept: false, treat_modified_as_released: false };
    if (config.credit !== undefined && config.credit !== null) options.credit_window = 0;
    return options;
}

function listen() {
    if (config.sasl_plain) {
        const expected = config.sasl_plain;
        container.sasl_server_mechanisms.enable_plain((user, password) => {
            const ok = user === expected.user && password === expected.password;
            emit('sasl', { mechanism: 'PLAIN', user: user, ok: ok });
            return ok;
        });
    }
    const options = Object.assign(linkOptions(), { host: config.host || '127.0.0.1', port: config.port || 0 });
    if (config.tls) Object.assign(options, tlsOptions());
    server = container.listen(options);
    server.on('listening', () => emit('listening', { host: options.host, port: server.address().port, tls: Boolean(config.tls) }));
    server.on('error', (error) => {
        emit('error', { where: 'listen', error: String(error) });
        process.exit(71);
    });
    // TLS handshakes that fail never become AMQP connections: report them.
    server.on('tlsClientError', (error) => emit('error', { where: 'tls', error: String(error) }));
}

function connect() {
    const options = Object.assign(linkOptions(), {
        host: config.host || '127.0.0.1',
        port: config.port,
        container_id: config.container_id || 'rhea-peer',
    });
    if (config.tls) Object.assign(options, tlsOptions());
    if (config.sasl_plain) {
        options.username = config.sasl_plain.user;
        options.password = config.sasl_plain.password;
    }
    if (config.hostname) options.hostname = config.hostname;
    const connection = container.connect(options);
    connections.set(connId(connection), connection);
    if (connection.socket) {
        connection.socket.on('error', (error) => emit('error', { where: 'socket', error: String(error) }));
    }
}

function theConnection() {
    for (const connection of connections.values()) return connection;
    throw new Error('no connection');
}

// ----------------------------------------------------------------- commands

function maybeExit() {
    if (closing && connections.size === 0) {
        emit('closed', {});
        process.exit(0);
    }
}

function closeAll() {
    if (closing) return;
    closing = true;
    if (server) server.close();
    for (const connection of connections.values()) {
        if (!connection.is_closed()) connection.close();
    }
    maybeExit();
    // A peer that never answers the close must not keep this process alive.
    setTimeout(() => {
        emit('closed', { forced: true, open: connections.size });
        process.exit(0);
    }, 5000).unref();
}

const handlers = {
    open_sender(cmd) {
        const sender = theConnection().open_sender({ name: cmd.name, target: cmd.target, autosettle: true });
        named.set(cmd.name, sender);
        queues.set(sender, []);
    },
    open_receiver(cmd) {
        const options = { name: cmd.name, source: cmd.source, autoaccept: false };
        if (cmd.credit !== undefined && cmd.credit !== null) options.credit_window = 0;
        const receiver = theConnection().open_receiver(options);
        named.set(cmd.name, receiver);
        if (cmd.credit) grant(receiver, cmd.credit);
    },
    send(cmd) {
        const links = findLinks(cmd.link).filter((l) => l.is_sender());
        if (links.length !== 1) throw new Error('send: ' + links.length + ' sender links match ' + cmd.link);
        const messages = cmd.messages || [cmd.message];
        enqueue(links[0], messages.map((m, i) => ({ message: m, tag: cmd.tags ? cmd.tags[i] : cmd.tag })));
    },
    offer(cmd) {
        const links = [];
        for (const connection of connections.values()) {
            for (const l of allLinks(connection)) if (l.is_sender() && address(l.source) === cmd.source) links.push(l);
        }
        const items = cmd.messages.map((m, i) => ({ message: m, tag: cmd.tags ? cmd.tags[i] : undefined }));
        if (links.length) enqueue(links[0], items);
        else offers.set(cmd.source, (offers.get(cmd.source) || []).concat(items));
    },
    flow(cmd) {
        const links = findLinks(cmd.link).filter((l) => l.is_receiver());
        if (!links.length) throw new Error('flow: no receiver link matches ' + cmd.link);
        for (const l of links) grant(l, cmd.credit);
    },
    close() { closeAll(); },
};

const input = readline.createInterface({ input: process.stdin });
input.on('line', (line) => {
    if (!line.trim()) return;
    let cmd;
    try {
        cmd = JSON.parse(line);
        const handler = handlers[cmd.op];
        if (!handler) throw new Error('unknown op ' + cmd.op);
        handler(cmd);
        emit('done', { op: cmd.op, id: cmd.id === undefined ? null : cmd.id });
    } catch (error) {
        emit('error', { where: 'command', op: cmd ? cmd.op : null, error: String(error && error.stack ? error.stack : error) });
    }
});
input.on('close', closeAll);

if (config.role === 'listen') listen();
else if (config.role === 'connect') connect();
else throw new Error('config.role must be "listen" or "connect"');
