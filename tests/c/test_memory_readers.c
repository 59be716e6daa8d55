/* The readers of bytes in memory (dnn_*_memory): the same results as the
 * file readers on the same bytes, and the same refusals, with the given
 * name in the message. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dnn/dnn.h"
#include "temp_files.h"

static bool error_has(const char *needle) { return strstr(dnn_errmsg(), needle) != NULL; }

static bool same(const dnn_tensor *a, const dnn_tensor *b) {
  if (!a || !b || a->ndim != b->ndim) return false;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return false;
  return memcmp(dnn_data((dnn_tensor *)a), dnn_data((dnn_tensor *)b), sizeof(float) * (size_t)dnn_numel(a)) == 0;
}

static void test_image(void) {
  /* a 2x1 RGB PPM: memory and file agree, and the name is in errors */
  static const unsigned char ppm[] = "P6\n2 1\n255\n\x0a\x14\x1e\x28\x32\x3c";
  size_t n = sizeof ppm - 1;
  dnn_tensor *m = dnn_image_load_memory(ppm, n, "two.ppm", 0, true);
  dnn_tensor *f = dnn_image_load(temp_write("two.ppm", ppm, n), 0, true);
  CHECK(same(m, f));
  CHECK(m && m->shape[1] == 2 && m->shape[2] == 3 && dnn_data(m)[5] == 60);
  CHECK(dnn_image_load_memory(ppm, n - 1, "short.ppm", 0, false) == NULL && error_has("short.ppm") &&
        error_has("corrupt PNM"));
  static const unsigned char dht[] = {0xff, 0xd8, 0xff, 0xc4, 0x00, 0xb5, 0x11, 0xb8, 0xc2};
  CHECK(dnn_image_load_memory(dht, sizeof dht, NULL, 0, false) == NULL && error_has("(memory)") &&
        error_has("corrupt JPEG"));
  dnn_tensor_release(m), dnn_tensor_release(f);
}

static void test_idx_csv_cifar(void) {
  static const unsigned char idx[] = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6};
  dnn_tensor *m = dnn_read_idx_memory(idx, sizeof idx, "a.idx");
  dnn_tensor *f = dnn_read_idx(temp_write("a.idx", idx, sizeof idx));
  CHECK(same(m, f) && m->shape[0] == 2 && m->shape[1] == 3 && dnn_data(m)[5] == 6);
  CHECK(dnn_read_idx_memory(idx, sizeof idx - 1, "cut.idx") == NULL && error_has("cut.idx") && error_has("truncated"));
  dnn_tensor_release(m), dnn_tensor_release(f);

  static const char csv[] = "a,b\n1,2\n3,4.5\n";
  dnn_csv *c = dnn_read_csv_memory(csv, strlen(csv), "t.csv", NULL);
  CHECK(c && c->n_rows == 2 && c->n_cols == 2 && dnn_data(c->numbers)[3] == 4.5f && strcmp(c->names[1], "b") == 0);
  dnn_csv_free(c);
  dnn_csv_options o = {.header = 1, .separator = ',', .missing_error = 1};
  CHECK(dnn_read_csv_memory("a,b\n1,\n", 7, "gap.csv", &o) == NULL && error_has("gap.csv"));

  unsigned char *rec = calloc(3073, 1);
  rec[0] = 7, rec[1] = 255;
  dnn_tensor *x = NULL, *y = NULL;
  CHECK(dnn_read_cifar10_memory(rec, 3073, "one.bin", &x, &y) == DNN_OK && dnn_data(y)[0] == 8 &&
        dnn_data(x)[0] == 1.0f);
  dnn_tensor_release(x), dnn_tensor_release(y);
  CHECK(dnn_read_cifar10_memory(rec, 3072, "short.bin", &x, &y) != DNN_OK && error_has("short.bin") && !x && !y);
  free(rec);
}

static void test_safetensors(void) {
  int64_t shape[2] = {2, 2};
  dnn_tensor *t = dnn_empty(2, shape);
  for (int i = 0; i < 4; i++) dnn_data(t)[i] = (float)i / 3;
  const char *names[1] = {"w"};
  const char *path = temp_path("w.safetensors");
  CHECK(dnn_safetensors_save(path, 1, names, &t, 0, NULL, NULL) == DNN_OK);
  FILE *f = fopen(path, "rb");
  unsigned char buf[4096];
  size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
  if (f) fclose(f);
  dnn_safetensors *st = dnn_safetensors_load_memory(buf, n, "w.safetensors");
  CHECK(st && st->n == 1 && strcmp(st->names[0], "w") == 0 && same(st->tensors[0], t));
  dnn_safetensors_free(st);
  CHECK(dnn_safetensors_load_memory(buf, n - 1, "cut.safetensors") == NULL && error_has("cut.safetensors"));
  CHECK(dnn_safetensors_load_memory(buf, 5, "tiny") == NULL && error_has("too short"));
  dnn_tensor_release(t);
}

int main(void) {
  if (!temp_dir_make("memory_readers")) return 1;
  test_image();
  test_idx_csv_cifar();
  test_safetensors();
  temp_dir_remove();
  return check_report("test_memory_readers");
}
