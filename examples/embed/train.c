/* dnnlua_train: drives a training run from C, with a Lua script as the
 * configuration.
 *
 *   dnnlua_train config.lua [model_out.dnn]
 *
 * The script defines the globals `model` (compiled), `x` and `y` (the
 * training data), and optionally `epochs` (default 5), `batch_size`
 * (default 32) and `fit_epoch(epoch)` (one epoch of training returning its
 * loss; the default runs model:fit for that epoch). The host runs the
 * epochs, prints the losses, stops at the first error with its message, and
 * saves the trained model (model:save) where asked. */
#include <dnnlua.h>
#include <stdio.h>

static const char *defaults =
    "epochs = epochs or 5\n"
    "batch_size = batch_size or 32\n"
    "if not fit_epoch then\n"
    "  function fit_epoch(epoch)\n"
    "    local h = model:fit(x, y, {epochs = epoch, initial_epoch = epoch - 1, batch_size = batch_size, verbose = 0})\n"
    "    return h.history.loss[#h.history.loss]\n"
    "  end\n"
    "end\n"
    "function save(path) model:save(path) end\n"
    "function settings()\n"
    "  if not (model and x and y) then error('the configuration must set the globals model, x and y') end\n"
    "  if math.type(epochs) ~= 'integer' or epochs < 1 then error('epochs must be a positive integer') end\n"
    "  return epochs\n"
    "end\n";

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s config.lua [model_out.dnn]\n", argv[0]);
    return 2;
  }
  dnnlua_State *S = dnnlua_open();
  if (!S) {
    fprintf(stderr, "dnnlua_train: %s\n", dnnlua_open_errmsg());
    return 1;
  }
  int64_t epochs = 0;
  int status = dnnlua_dofile(S, argv[1]);
  if (status == DNNLUA_OK) status = dnnlua_dostring(S, defaults);
  if (status == DNNLUA_OK) status = dnnlua_call(S, "settings", ">i", &epochs);
  for (int64_t epoch = 1; status == DNNLUA_OK && epoch <= epochs; epoch++) {
    double loss = 0;
    status = dnnlua_call(S, "fit_epoch", "i>d", epoch, &loss);
    if (status == DNNLUA_OK) printf("epoch %lld/%lld: loss %.4f\n", (long long)epoch, (long long)epochs, loss);
  }
  if (status == DNNLUA_OK && argc == 3) {
    status = dnnlua_call(S, "save", "s", argv[2]);
    if (status == DNNLUA_OK) printf("saved %s\n", argv[2]);
  }
  if (status != DNNLUA_OK) fprintf(stderr, "dnnlua_train: %s\n", dnnlua_errmsg(S));
  dnnlua_close(S);
  return status == DNNLUA_OK ? 0 : 1;
}
