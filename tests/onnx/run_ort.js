// Runs an ONNX model in ONNX Runtime (npm onnxruntime-node) on the inputs of a JSON file and prints its outputs as
// JSON, for tests/lua/onnx_spec.lua:
//   node run_ort.js model.onnx inputs.json   (inputs.json: [{"shape": [2, 3], "data": [...]}, ...] in input order)
//   -> {"outputs": [{"name": "...", "shape": [...], "data": [...]}, ...]}
// NODE_PATH names the node_modules folder that holds onnxruntime-node.
const ort = require('onnxruntime-node');
const fs = require('fs');

async function main() {
  const [modelPath, inputPath] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(modelPath);
  const given = JSON.parse(fs.readFileSync(inputPath, 'utf8'));
  const feeds = {};
  session.inputNames.forEach((name, i) => {
    feeds[name] = new ort.Tensor('float32', Float32Array.from(given[i].data), given[i].shape);
  });
  const results = await session.run(feeds);
  const outputs = session.outputNames.map((name) => ({
    name, shape: results[name].dims, data: Array.from(results[name].data),
  }));
  process.stdout.write(JSON.stringify({outputs}));
}

main().catch((e) => {
  process.stderr.write(String(e && e.message ? e.message : e) + '\n');
  process.exit(1);
});
