#!/usr/bin/env bash
# The Dockerfile's build without Docker (CI has no engine). The build context is what
# `docker build .` would send, restricted to a clean checkout (tracked and untracked-but-not-
# ignored files, minus .dockerignore); the build stages' WORKDIR/ENV/COPY/RUN are replayed in
# a directory standing for each stage's filesystem; the final stage is assembled from its
# COPY --from lines, and its ENTRYPOINT + CMD is started the way the container would start it:
# --version, a `listening mqtt://` line, the HEALTHCHECK command, /readyz, the SQLite store on
# the VOLUME, and SIGTERM -> exit 0.
#
#   deploy/check-dockerfile.sh            the whole check (npm ci compiles better-sqlite3: minutes)
#   deploy/check-dockerfile.sh --dry-run  parse, build context and COPY sources only (seconds)
#   --keep                                keep the work directory (printed) for a look inside
#
# Not replayed: the final stage's RUN lines (they need root and absolute paths: the volume's
# mkdir/chown) and USER; test/deploy/dockerfile.test.ts checks those statically.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dry=0
keep=0
for a in "$@"; do
  case $a in
    --dry-run) dry=1 ;;
    --keep) keep=1 ;;
    *) echo "usage: $0 [--dry-run] [--keep]" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/sb-dockerfile.XXXXXX")
pid=
cleanup() {
  [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null || true
  if [[ $keep == 1 ]]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
die() { echo "check-dockerfile: $*" >&2; exit 1; }
started=$SECONDS

# Node parses (Dockerfile continuations, JSON forms, .dockerignore globs): it writes the build
# context's file list and prints the Dockerfile as a plan of df_* calls, run below.
parser=$(cat <<'JS'
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
const [root, listFile] = process.argv.slice(1);
const fail = (m) => { process.stderr.write(`check-dockerfile: ${m}\n`); process.exit(1); };
const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

// .dockerignore: Go-style globs anchored at the root; a match on a parent folder excludes
// everything in it; the last matching line wins (! re-includes).
const rules = [];
for (let line of (existsSync(join(root, '.dockerignore')) ? readFileSync(join(root, '.dockerignore'), 'utf8') : '').split('\n')) {
  line = line.trim();
  if (line === '' || line.startsWith('#')) continue;
  const keep = line.startsWith('!');
  const pat = (keep ? line.slice(1) : line).trim().replace(/^\/+/, '').replace(/\/+$/, '');
  let re = '';
  for (let i = 0; i < pat.length; i++) {
    const c = pat[i];
    if (c === '*' && pat[i + 1] === '*') { i++; if (pat[i + 1] === '/') { i++; re += '(?:.*/)?'; } else re += '.*'; }
    else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  rules.push({ keep, re: new RegExp(`^${re}$`) });
}
const ignored = (path) => {
  const parts = path.split('/');
  let out = false;
  for (const r of rules) for (let n = 1; n <= parts.length; n++) if (r.re.test(parts.slice(0, n).join('/'))) { out = !r.keep; break; }
  return out;
};

// The context: git's view of a clean checkout when there is one, else every file.
let files;
try {
  files = execFileSync('git', ['-C', root, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\0').filter(Boolean);
} catch {
  const walk = (dir) => readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const p = dir === '' ? e.name : `${dir}/${e.name}`;
    return e.name === '.git' ? [] : e.isDirectory() ? walk(p) : [p];
  });
  files = walk('');
}
files = files.filter((f) => !ignored(f) && existsSync(join(root, f)) && !lstatSync(join(root, f)).isDirectory());
writeFileSync(listFile, files.join('\0'));

// Dockerfile -> instructions (comment lines dropped, even inside a continuation).
const instructions = [];
let cur = '';
for (const raw of readFileSync(join(root, 'Dockerfile'), 'utf8').split('\n')) {
  const t = raw.trim();
  if (t.startsWith('#') || (t === '' && cur !== '')) continue;
  if (t.endsWith('\\')) { cur += t.slice(0, -1) + ' '; continue; }
  cur += t;
  if (cur.trim() !== '') instructions.push(cur.trim());
  cur = '';
}
if (cur.trim() !== '') instructions.push(cur.trim());

const words = (s) => (s.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? []).map((w) => (w.startsWith('"') ? JSON.parse(w) : w));
const execForm = (s) => {
  if (!s.startsWith('[')) return null;
  const a = JSON.parse(s);
  if (!Array.isArray(a) || !a.every((x) => typeof x === 'string')) fail(`not a JSON string array: ${s}`);
  return a;
};
const flags = (s) => {
  const f = {};
  while (/^--[a-z-]+(=\S*)?(\s|$)/.test(s)) {
    const m = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(s);
    f[m[1]] = m[2] ?? '';
    s = s.slice(m[0].length);
  }
  return [f, s];
};
const stages = [];
const out = [];
for (const ins of instructions) {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(ins);
  const op = m[1].toUpperCase();
  let rest = m[2];
  if (!['RUN', 'HEALTHCHECK', 'CMD', 'ENTRYPOINT'].includes(op) && rest.includes('$')) fail(`variables are not replayed: ${ins}`);
  switch (op) {
    case 'FROM': {
      const w = words(rest);
      const name = w.length === 3 && w[1].toLowerCase() === 'as' ? w[2] : String(stages.length);
      stages.push(name);
      out.push(`df_from ${q(w[0])} ${q(name)}`);
      break;
    }
    case 'WORKDIR': out.push(`df_workdir ${q(rest)}`); break;
    case 'ARG': { const [k, v] = rest.split('='); if (v !== undefined) out.push(`df_env ${q(k)} ${q(v)}`); break; }
    case 'ENV': {
      const w = words(rest);
      if (w.length === 2 && !w[0].includes('=')) out.push(`df_env ${q(w[0])} ${q(w[1])}`);
      else for (const kv of w) { const i = kv.indexOf('='); if (i < 1) fail(`ENV: ${kv}`); out.push(`df_env ${q(kv.slice(0, i))} ${q(kv.slice(i + 1))}`); }
      break;
    }
    case 'COPY': {
      const [f, r] = flags(rest);
      const w = execForm(r) ?? words(r);
      if (w.length < 2) fail(`COPY needs a source and a destination: ${ins}`);
      if (w.slice(0, -1).some((s) => /[*?[]/.test(s))) fail(`COPY wildcards are not replayed: ${ins}`);
      if (f.from !== undefined && !stages.includes(f.from)) fail(`COPY --from=${f.from}: not a stage of this file`);
      out.push(`df_copy ${q(f.from ?? '-')} ${q(w[w.length - 1])} ${w.slice(0, -1).map(q).join(' ')}`);
      break;
    }
    case 'RUN': {
      const [, r] = flags(rest);
      const a = execForm(r);
      out.push(a ? `df_run ${a.map(q).join(' ')}` : `df_run sh -c ${q(r)}`);
      break;
    }
    case 'HEALTHCHECK': {
      const [, r] = flags(rest);
      if (/^NONE$/i.test(r)) { out.push('df_healthcheck'); break; }
      const c = /^CMD\s+([\s\S]*)$/i.exec(r);
      if (!c) fail(`HEALTHCHECK: ${ins}`);
      const a = execForm(c[1]);
      out.push(`df_healthcheck ${(a ?? ['sh', '-c', c[1]]).map(q).join(' ')}`);
      break;
    }
    case 'ENTRYPOINT': case 'CMD': {
      const a = execForm(rest);
      out.push(`df_${op.toLowerCase()} ${(a ?? ['sh', '-c', rest]).map(q).join(' ')}`);
      break;
    }
    case 'USER': case 'VOLUME': case 'EXPOSE': {
      const a = execForm(rest) ?? words(rest);
      out.push(`df_${op.toLowerCase()} ${a.map(q).join(' ')}`);
      break;
    }
    case 'LABEL': case 'STOPSIGNAL': case 'MAINTAINER': break;
    default: fail(`${op} is not replayed by this check: ${ins}`);
  }
}
if (stages.length < 2) fail('expected a multi-stage Dockerfile (a build stage and a final one)');
out.push(`final_stage=${q(stages[stages.length - 1])}`);
console.log(out.join('\n'));
JS
)

plan=$(node --input-type=module -e "$parser" "$root" "$work/context.list") || exit 1
echo "== plan (from Dockerfile)"
echo "$plan"

# The context, copied from the working tree.
ctx=$work/context
mkdir -p "$ctx"
(cd "$root" && tar --null -T "$work/context.list" -cf -) | tar -xf - -C "$ctx"
echo "== build context: $(tr -cd '\0' <"$work/context.list" | wc -c) files"

stage= sroot= wd=/ stage_env=() user= volumes=() ports=() health=() entry=() cmd=()
final_stage=$(sed -n "s/^final_stage='\(.*\)'$/\1/p" <<<"$plan")

df_from() {
  stage=$2 sroot=$work/stages/$2 wd=/ stage_env=()
  mkdir -p "$sroot"
  # The check runs everything with this machine's node: it must be the image's major version.
  if [[ $1 =~ ^node:([0-9]+) ]]; then
    local have
    have=$(node -p 'process.versions.node.split(".")[0]')
    [[ $have == "${BASH_REMATCH[1]}" ]] || die "FROM $1, but this machine runs node $have: the check would not be representative"
  fi
  echo "== stage $2 (FROM $1)"
}
df_workdir() {
  if [[ $1 == /* ]]; then wd=$1; else wd=${wd%/}/$1; fi
  mkdir -p "$sroot$wd"
}
df_env() { stage_env+=("$1=$2"); }
df_copy() {
  local from=$1 dest=$2 base target src path
  shift 2
  if [[ $from == - ]]; then base=$ctx; else base=$work/stages/$from; fi
  [[ $dest == /* ]] || { dest=${dest#./}; dest=${wd%/}/$dest; }
  target=$sroot$dest
  if [[ $dry == 1 && $from != - ]]; then echo "   (dry run) COPY --from=$from $* $dest"; return; fi
  for src in "$@"; do
    path=$base/${src#/}
    if [[ -d $path ]]; then
      mkdir -p "$target"
      cp -a "$path/." "$target/"
    elif [[ -f $path ]]; then
      if [[ $dest == */ || $# -gt 1 || -d $target ]]; then
        mkdir -p "$target"
        cp -a "$path" "$target/"
      else
        mkdir -p "$(dirname "$target")"
        cp -a "$path" "$target"
      fi
    elif [[ $from == - ]]; then
      die "COPY $src: not in the build context (ignored by .dockerignore or .gitignore, or missing)"
    else
      die "COPY --from=$from $src: the $from stage did not produce it"
    fi
  done
}
df_run() {
  if [[ $stage == "$final_stage" ]]; then echo "   not replayed (final stage): RUN $*"; return; fi
  if [[ $dry == 1 ]]; then echo "   (dry run) RUN $*"; return; fi
  echo "   RUN $* (in $wd)"
  local t=$SECONDS
  (cd "$sroot$wd" && env ${stage_env[@]+"${stage_env[@]}"} "$@") || die "RUN $* failed"
  echo "   ... $((SECONDS - t))s"
}
df_user() { user=$1; }
df_volume() { volumes+=("$@"); }
df_expose() { ports+=("$@"); }
df_healthcheck() { health=("$@"); }
df_entrypoint() { entry=("$@"); }
df_cmd() { cmd=("$@"); }

eval "$plan"

[[ ${#entry[@]} -gt 0 ]] || die "the final stage has no ENTRYPOINT (the node image's would run instead)"
[[ ${#health[@]} -gt 0 ]] || die "the final stage has no HEALTHCHECK"
[[ ${#volumes[@]} -gt 0 ]] || die "the final stage has no VOLUME for the data"
if [[ $dry == 1 ]]; then
  echo "check-dockerfile: dry run ok ($((SECONDS - started))s)"
  exit 0
fi

# The final stage as a container: absolute paths of the image (arguments, environment values)
# point into its directory; the configuration file stands for the one mounted by `docker run`.
rt=$sroot
map() { if [[ $1 == /* && $1 != *:* ]]; then echo "$rt$1"; else echo "$1"; fi; }
run_env=(PATH="$PATH" HOME="$work/home")
for kv in ${stage_env[@]+"${stage_env[@]}"}; do run_env+=("${kv%%=*}=$(map "${kv#*=}")"); done
for v in "${volumes[@]}"; do mkdir -p "$rt$v"; done
mkdir -p "$work/home"
argv=()
conf=
prev=
for a in "${entry[@]}" ${cmd[@]+"${cmd[@]}"}; do
  [[ $prev == --config ]] && conf=$a
  prev=$a
  argv+=("$(map "$a")")
done
[[ -n $conf ]] || die "ENTRYPOINT + CMD should start the broker with --config FILE (the mounted configuration)"
mkdir -p "$(dirname "$rt$conf")"
cat >"$rt$conf" <<'YAML'
# Stands for the file `docker run -v` mounts: one application, so not development mode.
applications:
  - id: check
    appKey: check-app-key-0001
    profileKeys: { SERVICE: check-service-key-0001 }
YAML
in_rt() { (cd "$rt$wd" && env -i "${run_env[@]}" "$@"); }

echo "== container (ENTRYPOINT + CMD): ${entry[*]} ${cmd[*]}"
version=$(in_rt "${argv[@]:0:${#entry[@]}}" --version) || die "--version failed"
want=$(node -p "require('$ctx/package.json').version")
[[ $version == "$want" ]] || die "--version printed '$version', package.json says $want"
echo "   --version: $version"

# What the lockfile marks dev-only (typescript, esbuild...) must have been pruned.
node -e '
  const [lock, dir] = process.argv.slice(1);
  const fs = require("node:fs");
  const pkgs = require(lock).packages ?? {};
  const left = Object.keys(pkgs).filter((p) => p.startsWith("node_modules/") && pkgs[p].dev && fs.existsSync(dir + "/" + p));
  if (left.length) { console.error("check-dockerfile: dev dependencies left in the image: " + left.join(", ")); process.exit(1); }
' "$ctx/package-lock.json" "$rt$wd"

# The health check's port, rebound to a free one (8080 may be taken on a CI machine).
port=$(node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
hport=
hc=()
for a in "${health[@]}"; do
  if [[ $a =~ 127\.0\.0\.1:([0-9]+) ]]; then hport=${BASH_REMATCH[1]}; a=${a//127.0.0.1:$hport/127.0.0.1:$port}; fi
  hc+=("$a")
done
[[ -n $hport ]] || die "cannot find the HEALTHCHECK's 127.0.0.1:PORT"
printf '%s\n' "${ports[@]}" | grep -qx "$hport" || die "the HEALTHCHECK's port $hport is not EXPOSEd (${ports[*]})"

(cd "$rt$wd" && exec env -i "${run_env[@]}" "${argv[@]}" --listen mqtt://127.0.0.1:0 --listen "ws://127.0.0.1:$port/mqtt" >"$work/stdout" 2>"$work/stderr") &
pid=$!
for _ in $(seq 1 300); do
  grep -q '^listening mqtt://' "$work/stdout" && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/stderr" >&2; die "the broker exited before listening"; }
  sleep 0.1
done
grep -q '^listening mqtt://' "$work/stdout" || { cat "$work/stderr" >&2; die "no 'listening mqtt://' line within 30s"; }
echo "   $(grep -m1 '^listening mqtt://' "$work/stdout")"

timeout 10 bash -c 'cd "$1" && shift && exec "$@"' _ "$rt$wd" env -i "${run_env[@]}" "${hc[@]}" || die "the HEALTHCHECK command failed"
echo "   HEALTHCHECK: ok"
node -e 'fetch(process.argv[1]).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' "http://127.0.0.1:$port/readyz" || die "/readyz is not 200"
echo "   /readyz: 200"

kill -TERM "$pid"
for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && { cat "$work/stderr" >&2; die "still running 30s after SIGTERM"; }
rc=0
wait "$pid" || rc=$?
pid=
[[ $rc == 0 ]] || { cat "$work/stderr" >&2; die "SIGTERM: exit $rc, expected 0"; }
echo "   SIGTERM: exit 0"
ls "$rt${volumes[0]}"/switchboard.db >/dev/null 2>&1 || die "no switchboard.db on the volume ${volumes[0]} (store.dataDir)"
echo "   store: ${volumes[0]}/switchboard.db"

echo "check-dockerfile: ok ($((SECONDS - started))s)"
