/* dnnlua_classify: loads a model file saved by a Lua script (model:save) and
 * classifies the inputs named on the command line.
 *
 *   dnnlua_classify model.dnn input...
 *
 * An input is a raw file of float32 values (.f32 or .raw: one or more
 * examples of the model's input size, handed to Lua without copying), an
 * IDX file of images or vectors (t10k-images-idx3-ubyte[.gz]: every example
 * in it), or a PNG image where dnn.image exists. Prints one line per
 * example: the input, the example's index, the class id (1-based) and its
 * probability. */
#include <dnnlua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The Lua side: load the model, read inputs that need a file format, classify. */
static const char *helpers =
    "function load(path)\n"
    "  model = dnn.load_model(path)\n"
    "  local n = 1\n"
    "  for _, d in ipairs(model.input_shape or error(path .. ': the model has no known input shape')) do n = n * d "
    "end\n"
    "  return n\n"
    "end\n"
    "function read_input(path)\n"
    "  local x\n"
    "  if path:lower():match('%.png$') then\n"
    "    if not (dnn.image and dnn.image.load) then error(path .. ': PNG input needs dnn.image, which this build "
    "lacks') end\n"
    "    x = dnn.image.load(path, {channels = model.input_shape[#model.input_shape]})\n"
    "    x = x:reshape(1, table.unpack(x.shape))\n"
    "  else\n"
    "    x = dnn.data.read_idx(path)\n"
    "    if x:max():item() > 1 then x = x / 255 end\n"
    "  end\n"
    "  return x:reshape(x.shape[1], table.unpack(model.input_shape))\n"
    "end\n"
    "function classify(x)\n"
    "  local n = 1\n"
    "  for _, d in ipairs(model.input_shape) do n = n * d end\n"
    "  if x:numel() % n ~= 0 then error(string.format('%d values is not a whole number of examples of %d', x:numel(), "
    "n)) end\n"
    "  local p = model:predict(x:reshape(x:numel() // n, table.unpack(model.input_shape)))\n"
    "  local best, id = p:max(-1)\n"
    "  return id, best\n"
    "end\n";

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Reads a raw float32 file into a malloc'd buffer; *count gets the number of floats. */
static float *read_floats(const char *path, int64_t *count) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  float *data = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long bytes = ftell(f);
    if (bytes > 0 && bytes % (long)sizeof(float) == 0 && fseek(f, 0, SEEK_SET) == 0) {
      data = malloc((size_t)bytes);
      if (data && fread(data, 1, (size_t)bytes, f) != (size_t)bytes) {
        free(data);
        data = NULL;
      }
      *count = bytes / (long)sizeof(float);
    }
  }
  fclose(f);
  return data;
}

/* The buffer's release callback: dnnlua calls it once Lua is done with the tensor. */
static void free_buffer(void *ctx, float *data) {
  (void)ctx;
  free(data);
}

static int classify(dnnlua_State *S, const char *path) {
  dnnlua_Tensor *x = NULL;
  if (ends_with(path, ".f32") || ends_with(path, ".raw")) {
    int64_t n = 0;
    float *data = read_floats(path, &n);
    if (!data) {
      fprintf(stderr, "dnnlua_classify: %s: cannot read float32 values\n", path);
      return 1;
    }
    /* zero-copy: Lua reads the buffer in place and frees it through free_buffer */
    x = dnnlua_tensor_from_buffer(S, data, 1, &n, free_buffer, NULL);
    if (!x) free(data); /* not taken: still ours */
  } else if (dnnlua_call(S, "read_input", "s>t", path, &x) != DNNLUA_OK) {
    x = NULL;
  }
  dnnlua_Tensor *ids = NULL, *probs = NULL;
  if (!x || dnnlua_call(S, "classify", "t>tt", x, &ids, &probs) != DNNLUA_OK) {
    fprintf(stderr, "dnnlua_classify: %s: %s\n", path, dnnlua_errmsg(S));
    dnnlua_tensor_free(S, x);
    return 1;
  }
  const float *id = dnnlua_tensor_data(S, ids);
  const float *p = dnnlua_tensor_data(S, probs);
  for (int64_t i = 0; id && p && i < dnnlua_tensor_numel(ids); i++)
    printf("%s[%lld]: class %d (p = %.4f)\n", path, (long long)i + 1, (int)id[i], p[i]);
  dnnlua_tensor_free(S, x);
  dnnlua_tensor_free(S, ids);
  dnnlua_tensor_free(S, probs);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s model.dnn input.{f32,raw,idx,png}...\n", argv[0]);
    return 2;
  }
  dnnlua_State *S = dnnlua_open();
  if (!S) {
    fprintf(stderr, "dnnlua_classify: %s\n", dnnlua_open_errmsg());
    return 1;
  }
  int64_t input_size = 0;
  if (dnnlua_dostring(S, helpers) != DNNLUA_OK || dnnlua_call(S, "load", "s>i", argv[1], &input_size) != DNNLUA_OK) {
    fprintf(stderr, "dnnlua_classify: %s\n", dnnlua_errmsg(S));
    dnnlua_close(S);
    return 1;
  }
  printf("model %s: %lld inputs per example\n", argv[1], (long long)input_size);
  int failures = 0;
  for (int i = 2; i < argc; i++) failures += classify(S, argv[i]);
  dnnlua_close(S);
  return failures ? 1 : 0;
}
