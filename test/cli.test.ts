import t from 'tap';
import { parseCommand, serveUsage, usage } from '../src/cli.js';
import { SERVE_FLAGS } from '../src/config.js';

t.same(parseCommand(['serve', '--objects', 'x']), { name: 'serve', argv: ['--objects', 'x'] });
t.same(parseCommand(['--log-level=info', '--metrics-addr=:8095']), { name: 'serve', argv: ['--log-level=info', '--metrics-addr=:8095'] }, 'upstream-style flags alone mean serve');
t.same(parseCommand(['--version']), { name: 'version' });
t.same(parseCommand(['version']), { name: 'version' });
t.same(parseCommand(['serve', '--help']), { name: 'help', topic: 'serve' });
t.same(parseCommand([]), { name: 'help' });
t.same(parseCommand(['frobnicate']), { name: 'unknown', word: 'frobnicate' });
for (const flag of Object.keys(SERVE_FLAGS)) t.ok(serveUsage().includes(`--${flag}`), `serve --help documents --${flag}`);
t.match(usage(), /wi-admission serve/);
