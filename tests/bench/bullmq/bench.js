'use strict';
// BullMQ half of tests/bench/queue.sh. Run it through tests/bench/bullmq_run.sh,
// which installs bullmq + ioredis into a cache folder and sets NODE_PATH.
//
//   node bench.js PORT N CONCURRENCY
//
// prints exactly one line of JSON on stdout:
//   {"system":"bullmq","n":N,"concurrency":C,"jobs_per_s":X,
//    "p50_dispatch_ms":A,"p99_dispatch_ms":B,"redis_cmds_per_job":K}
// Anything else (progress, errors, BULLMQ_BENCH_VERBOSE=1 details) goes to stderr.
//
// What happens, against redis on 127.0.0.1:PORT:
//  1. delete every key of queues "vodqbench" and "vodqbench-warmup" (prefix "bull");
//     nothing else is touched;
//  2. fork ONE worker process (this file with --worker). It first warms up: it runs
//     BULLMQ_BENCH_WARMUP (default 5000) no-op jobs through a throw-away Worker on queue
//     "vodqbench-warmup" with the same options, so V8 has compiled BullMQ's hot paths, as
//     in any long-running worker (0 = cold start: at C=1 cold was ~2.6k jobs/s against
//     ~3.9k warm for N=2000; at N=20000 the difference is a few per cent, within noise).
//     Then it opens the measured Worker with autorun off and reports "ready", so neither
//     node start-up, module loading, warm-up nor connecting is counted;
//  3. CONFIG RESETSTAT, then add N no-op jobs with Queue.addBulk in batches of
//     BATCH; each job's data is {t: submit time in ms};
//  4. tell the worker to run (t0 = Worker.run()); its processor records
//     (processor start - job.data.t) as dispatch latency and returns; the worker counts
//     'completed' events and stops the clock at the N-th (t1);
//  5. after the worker process has closed and exited, INFO commandstats again, then
//     delete the queue's keys so that nothing of BullMQ is left for the next run.
// jobs_per_s = N / (t1 - t0). redis_cmds_per_job = (sum of calls after - before) / N;
// it includes the adds, the calls made inside BullMQ's Lua scripts (Redis counts those
// too), and the worker's few start/stop commands. Dispatch latency is measured with the
// queue pre-loaded, so it is mostly queueing delay (about half the drain time at p50),
// exactly as for the vodq side of the benchmark.
//
// Options, chosen as a BullMQ user tuning for throughput would:
//  - Worker options removeOnComplete {count: 1000}, removeOnFail {count: 5000}: the
//    "good practice" in the BullMQ guide (docs.bullmq.io/guide/workers/auto-removal-of-jobs)
//    for production: Redis memory stays bounded and recent history is kept, as vodq keeps
//    job state. removeOnComplete: true is ~15% faster here (32 instead of 37 Redis
//    commands per job) but keeps nothing; BULLMQ_BENCH_REMOVE=true (or =keep, the BullMQ
//    default of keeping every job) measures those instead.
//  - attempts 1 (the default), no backoff, no priorities, no delays, no rate limiter,
//    no metrics (all BullMQ defaults), so each job takes BullMQ's fastest path.
//  - Worker defaults otherwise: lockDuration 30 s with renewal, stalled checker on,
//    events stream on with maxLen ~10000: a real deployment keeps these, and vodq
//    keeps its lease/events machinery too.
//  - One Worker object in one process with concurrency C. BullMQ fetches the next job
//    in the same script call that completes the previous one (moveToFinished), which is
//    its fastest mode.

const { fork } = require('node:child_process');
const { performance } = require('node:perf_hooks');

const QUEUE = 'vodqbench';
const WARMUP_QUEUE = 'vodqbench-warmup';
const DEFAULT_WARMUP = 5000;
const PREFIX = 'bull';
const BATCH = 1000;
const HOST = '127.0.0.1';
const TIMEOUT_S = Number(process.env.BULLMQ_BENCH_TIMEOUT_S || 600);
const VERBOSE = process.env.BULLMQ_BENCH_VERBOSE === '1';

function nowMs() {
  // Wall-clock milliseconds with sub-ms resolution; comparable across the two processes.
  return performance.timeOrigin + performance.now();
}

function log(msg) {
  process.stderr.write(`bullmq bench: ${msg}\n`);
}

function die(msg) {
  log(msg);
  process.exit(1);
}

function parseArgs(argv) {
  if (argv.length !== 3) {
    die('usage: bench.js PORT N CONCURRENCY');
  }
  const names = ['PORT', 'N', 'CONCURRENCY'];
  const vals = argv.map((s, i) => {
    if (!/^[0-9]+$/.test(s) || Number(s) < 1) {
      die(`${names[i]} must be a positive integer, got '${s}'`);
    }
    return Number(s);
  });
  if (vals[0] > 65535) die(`PORT must be at most 65535, got ${vals[0]}`);
  return { port: vals[0], n: vals[1], conc: vals[2] };
}

function removeOnCompleteOpt() {
  const v = process.env.BULLMQ_BENCH_REMOVE || 'count1000';
  if (v === 'count1000') return { count: 1000 };
  // On the Worker, "remove at once" is spelled {count: 0} (true is a job-level option).
  if (v === 'true') return { count: 0 };
  if (v === 'keep') return undefined; // BullMQ default: keep every completed job
  die(`BULLMQ_BENCH_REMOVE must be count1000, true or keep, got '${v}'`);
  return null;
}

function percentile(sorted, p) {
  // Nearest-rank percentile of an ascending array.
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

function round(x, digits) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function warmupCount() {
  const v = process.env.BULLMQ_BENCH_WARMUP || String(DEFAULT_WARMUP);
  if (!/^[0-9]+$/.test(v)) die(`BULLMQ_BENCH_WARMUP must be a job count >= 0, got '${v}'`);
  return Number(v);
}

// ---------------------------------------------------------------- worker process

// Runs W jobs through a throw-away Worker on queue WARMUP_QUEUE with the same options,
// so that V8 has compiled BullMQ's hot paths before the measured run starts, as in any
// long-running worker. Its keys are deleted again; nothing of it is counted.
async function warmUp(port, conc, w) {
  const { Queue, Worker } = require('bullmq');
  const connection = { host: HOST, port, maxRetriesPerRequest: null };
  const q = new Queue(WARMUP_QUEUE, { prefix: PREFIX, connection });
  for (let i = 0; i < w; i += BATCH) {
    const jobs = [];
    for (let j = i; j < Math.min(w, i + BATCH); j++) jobs.push({ name: 'noop', data: { t: nowMs() } });
    await q.addBulk(jobs);
  }
  let done = 0;
  let sink = 0;
  const wk = new Worker(
    WARMUP_QUEUE,
    async (job) => {
      sink += nowMs() - job.data.t;
    },
    {
      prefix: PREFIX,
      connection,
      concurrency: conc,
      removeOnComplete: removeOnCompleteOpt(),
      removeOnFail: { count: 5000 },
    },
  );
  await new Promise((resolve, reject) => {
    wk.on('completed', () => {
      if (++done === w) resolve();
    });
    wk.on('failed', (job, err) => reject(new Error(`warm-up job failed: ${err && err.message}`)));
    wk.on('error', reject);
  });
  await wk.close();
  await q.obliterate({ force: true });
  await q.close();
  return sink;
}

async function workerMain(argv) {
  const { Worker } = require('bullmq');
  const { port, n, conc } = parseArgs(argv);
  const w = warmupCount();
  if (w > 0) await warmUp(port, conc, w);
  const lat = new Float64Array(n);
  let started = 0;
  let completed = 0;
  let t0 = 0;
  let failed = null;

  const worker = new Worker(
    QUEUE,
    async (job) => {
      const t = nowMs();
      if (started < n) lat[started] = t - job.data.t;
      started++;
    },
    {
      prefix: PREFIX,
      connection: { host: HOST, port, maxRetriesPerRequest: null },
      concurrency: conc,
      autorun: false,
      // Set on the Worker, as in the BullMQ guide, not stored in every job's opts.
      removeOnComplete: removeOnCompleteOpt(),
      removeOnFail: { count: 5000 },
    },
  );

  const finished = new Promise((resolve) => {
    worker.on('completed', () => {
      completed++;
      if (completed === n) resolve(nowMs());
    });
    worker.on('failed', (job, err) => {
      failed = `job ${job ? job.id : '?'} failed: ${err && err.message}`;
      resolve(0);
    });
    worker.on('error', (err) => {
      failed = `worker error: ${err && err.message}`;
      resolve(0);
    });
  });

  await worker.waitUntilReady();
  process.send({ type: 'ready' });
  await new Promise((resolve) => process.once('message', resolve));

  const cpu0 = process.cpuUsage();
  t0 = nowMs();
  worker.run().catch((err) => {
    failed = `worker.run: ${err && err.message}`;
  });
  const timer = setTimeout(() => {
    failed = `timed out after ${TIMEOUT_S} s with ${completed} of ${n} jobs completed`;
    process.send({ type: 'error', msg: failed }, () => process.exit(1));
  }, TIMEOUT_S * 1000);
  const t1 = await finished;
  clearTimeout(timer);
  const cpu = process.cpuUsage(cpu0);
  if (failed) {
    process.send({ type: 'error', msg: failed }, () => process.exit(1));
    return;
  }
  await worker.close();
  process.send(
    {
      type: 'done',
      t0,
      t1,
      started,
      completed,
      cpu_s: (cpu.user + cpu.system) / 1e6,
      lat: Array.from(lat),
    },
    () => process.exit(0),
  );
}

// ---------------------------------------------------------------- main process

function sumCalls(info) {
  let sum = 0;
  const per = {};
  for (const line of info.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=([0-9]+)/.exec(line);
    if (m) {
      sum += Number(m[2]);
      per[m[1]] = Number(m[2]);
    }
  }
  return { sum, per };
}

function redisCpu(info) {
  const get = (k) => Number((new RegExp(`^${k}:([0-9.]+)`, 'm').exec(info) || [])[1] || 0);
  return get('used_cpu_sys') + get('used_cpu_user');
}

async function deleteQueueKeys(redis) {
  let deleted = 0;
  for (const name of [QUEUE, WARMUP_QUEUE]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}:${name}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
  }
  return deleted;
}

async function main(argv) {
  const { port, n, conc } = parseArgs(argv);
  const IORedis = require('ioredis');
  const { Queue } = require('bullmq');
  const removeOnComplete = removeOnCompleteOpt(); // validated here, used by the worker
  const warmup = warmupCount();

  const redis = new IORedis({
    host: HOST,
    port,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    lazyConnect: true,
  });
  let connErr = null;
  redis.on('error', (err) => {
    connErr = connErr || err; // reported below, with the cause ioredis saw first
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    die(`cannot reach redis at ${HOST}:${port}: ${(connErr || err).message}`);
  }

  const deleted = await deleteQueueKeys(redis);
  if (VERBOSE) log(`deleted ${deleted} old keys of queue ${QUEUE}`);

  // The worker process connects and loads first; it waits for our 'go'.
  const child = fork(__filename, ['--worker', String(port), String(n), String(conc)], {
    stdio: ['ignore', 2, 2, 'ipc'],
  });
  const childExit = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
  const msgs = [];
  let wake = null;
  child.on('message', (m) => {
    msgs.push(m);
    if (wake) wake();
  });
  const nextMsg = async () => {
    while (!msgs.length) {
      const exited = await Promise.race([
        new Promise((resolve) => { wake = resolve; }).then(() => null),
        childExit,
      ]);
      if (exited && !msgs.length) {
        die(`worker process exited (code ${exited.code}, signal ${exited.sig}) before reporting`);
      }
    }
    return msgs.shift();
  };

  const queue = new Queue(QUEUE, {
    prefix: PREFIX,
    connection: { host: HOST, port },
  });
  await queue.waitUntilReady();
  let m = await nextMsg();
  if (m.type !== 'ready') die(`worker process: ${m.msg || JSON.stringify(m)}`);

  await redis.config('RESETSTAT');
  const before = sumCalls(await redis.info('commandstats'));
  const cpuBefore = redisCpu(await redis.info('cpu'));

  const tAdd0 = nowMs();
  for (let i = 0; i < n; i += BATCH) {
    const jobs = [];
    for (let j = i; j < Math.min(n, i + BATCH); j++) {
      jobs.push({ name: 'noop', data: { t: nowMs() } });
    }
    await queue.addBulk(jobs);
  }
  const tAdd1 = nowMs();
  await queue.close();
  const cpuMid = redisCpu(await redis.info('cpu'));

  child.send({ type: 'go' });
  m = await nextMsg();
  if (m.type !== 'done') die(`worker process: ${m.msg || JSON.stringify(m)}`);
  const exit = await childExit;
  if (exit.code !== 0) die(`worker process exited with code ${exit.code}, signal ${exit.sig}`);

  const after = sumCalls(await redis.info('commandstats'));
  const cpuAfter = redisCpu(await redis.info('cpu'));
  // Leave no BullMQ keys behind (kept jobs, events stream) for whatever runs next.
  await deleteQueueKeys(redis);
  await redis.quit();

  if (m.completed !== n || m.started !== n) {
    die(`worker saw ${m.started} starts and ${m.completed} completions, expected ${n}`);
  }
  const lat = Float64Array.from(m.lat).sort();
  const secs = (m.t1 - m.t0) / 1000;
  const out = {
    system: 'bullmq',
    n,
    concurrency: conc,
    jobs_per_s: round(n / secs, 1),
    p50_dispatch_ms: round(percentile(lat, 50), 3),
    p99_dispatch_ms: round(percentile(lat, 99), 3),
    redis_cmds_per_job: round((after.sum - before.sum) / n, 2),
    worker_cpu_us_per_job: round((m.cpu_s * 1e6) / n, 1),
    redis_cpu_us_per_job: round(((cpuAfter - cpuMid) * 1e6) / n, 1),
  };
  if (VERBOSE) {
    const per = Object.entries(after.per)
      .map(([k, v]) => [k, (v - (before.per[k] || 0)) / n])
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k}=${v.toFixed(3)}`)
      .join(' ');
    log(`add: ${round(tAdd1 - tAdd0, 1)} ms (${round(n / ((tAdd1 - tAdd0) / 1000), 0)} jobs/s); ` +
      `drain: ${round(secs * 1000, 1)} ms; CPU per job while draining: worker ` +
      `${round((m.cpu_s * 1e6) / n, 1)} us, redis ${round(((cpuAfter - cpuMid) * 1e6) / n, 1)} us; ` +
      `redis CPU per add ${round(((cpuMid - cpuBefore) * 1e6) / n, 1)} us; removeOnComplete=${JSON.stringify(removeOnComplete) || 'keep'}; warm-up ${warmup} jobs`);
    log(`cmds/job: ${per}`);
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

const args = process.argv.slice(2);
const run = args[0] === '--worker' ? workerMain(args.slice(1)) : main(args);
run.catch((err) => die(err && err.stack ? err.stack : String(err)));
