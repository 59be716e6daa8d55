// Inference speed of an ONNX model in ONNX Runtime (npm onnxruntime-node), for bench/infer.lua: runs the model on
// one random batch (the same input shape every run) and prints "<key> <samples/s>", the key given, and
// "<key>_cpu <samples per CPU second>" (all threads' CPU time: steadier than wall time on a loaded machine).
//   node ort_infer.js model.onnx KEY THREADS STEPS D1,D2,...   (the input shape, batch first)
// NODE_PATH names the node_modules folder that holds onnxruntime-node.
const ort = require('onnxruntime-node');

async function main() {
  const [modelPath, key, threads, steps, dims] = process.argv.slice(2);
  const shape = dims.split(',').map(Number);
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: Number(threads), interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = Math.random();
  const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, shape)};
  // warm up as bench/infer.lua does for dnnlua: a few runs leave the threads and the clock still cold (20 gave
  // dnnlua's 2-thread MLP 1.45x the speed of 3)
  for (let i = 0; i < 20; i++) await session.run(feeds);
  const count = Number(steps), t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
  for (let i = 0; i < count; i++) await session.run(feeds);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9, c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  process.stdout.write(`${key} ${(count * shape[0] / seconds).toFixed(1)}\n`);
  process.stdout.write(`${key}_cpu ${(count * shape[0] / cpu).toFixed(1)}\n`);
}

main().catch((e) => {
  process.stderr.write(String(e && e.message ? e.message : e) + '\n');
  process.exit(1);
});
