/* dnn_read_csv and dnn_read_cifar10: the formats' corners (quotes, CRLF,
 * BOM, blank lines, missing values, types) and every malformed file, each
 * error naming the path, the row and the column. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "dnn/dnn.h"
#include "dnn/io.h"
#include "temp_files.h"

static const char *write_text(const char *name, const char *text) { return temp_write(name, text, strlen(text)); }

/* The call failed and the message holds the path and each of want (NULL-terminated). */
static void check_message(const char *path, const char *want1, const char *want2) {
  const char *msg = dnn_errmsg();
  CHECK(strstr(msg, path) != NULL);
  const char *wants[] = {want1, want2};
  for (int i = 0; i < 2; i++)
    if (wants[i] && !strstr(msg, wants[i])) {
      check_failures++;
      fprintf(stderr, "message \"%s\" lacks \"%s\"\n", msg, wants[i]);
    }
}

static const dnn_csv_options defaults = {1, ',', NULL, 0, NULL, NULL, 0};

static void test_basic(void) {
  /* a BOM, CRLF, quotes with a separator, a doubled quote and a line break inside, a blank line */
  const char *path = write_text("basic.csv",
                                "\xEF\xBB\xBF"
                                "x,name,y\r\n"
                                "1.5,\"a,b\",2\r\n"
                                "\r\n"
                                "-3,\"say \"\"hi\"\"\",4e2\r\n"
                                "7,\"two\nlines\",\" 8 \"\n");
  dnn_csv *csv = dnn_read_csv(path, &defaults);
  CHECK(csv != NULL);
  if (!csv) {
    fprintf(stderr, "error: %s\n", dnn_errmsg());
    return;
  }
  CHECK(csv->n_rows == 3 && csv->n_cols == 3);
  CHECK(strcmp(csv->names[0], "x") == 0 && strcmp(csv->names[1], "name") == 0 && strcmp(csv->names[2], "y") == 0);
  CHECK(csv->kinds[0] == 'n' && csv->kinds[1] == 's' && csv->kinds[2] == 'n');
  CHECK(csv->numbers->shape[0] == 3 && csv->numbers->shape[1] == 2);
  const float want[] = {1.5f, 2, -3, 400, 7, 8};
  for (int i = 0; i < 6; i++) CHECK_NEAR(dnn_data(csv->numbers)[i], want[i], 0);
  CHECK(strcmp(csv->strings[1][0], "a,b") == 0);
  CHECK(strcmp(csv->strings[1][1], "say \"hi\"") == 0);
  CHECK(strcmp(csv->strings[1][2], "two\nlines") == 0);
  CHECK(csv->strings[0] == NULL && csv->n_missing_rows == 0);
  dnn_csv_free(csv);
}

static void test_options(void) {
  /* no header, ';' separator, the last line without a newline, kinds by position: column 1 forced to strings */
  const char *path = write_text("semi.csv", "10;1\n20;2");
  dnn_csv_options o = {0, ';', "s", 0, NULL, NULL, 0};
  dnn_csv *csv = dnn_read_csv(path, &o);
  CHECK(csv && csv->n_rows == 2 && csv->n_cols == 2);
  if (csv) {
    CHECK(strcmp(csv->names[0], "column_1") == 0 && strcmp(csv->names[1], "column_2") == 0);
    CHECK(csv->kinds[0] == 's' && strcmp(csv->strings[0][1], "20") == 0);
    CHECK(csv->numbers->shape[1] == 1 && dnn_data(csv->numbers)[1] == 2);
  }
  dnn_csv_free(csv);

  /* kinds by name; an unknown name is an error */
  path = write_text("named.csv", "a,label\n1,0\n2,1\n");
  const char *names[] = {"label"};
  o = (dnn_csv_options){1, ',', NULL, 1, names, "s", 0};
  csv = dnn_read_csv(path, &o);
  CHECK(csv && csv->kinds[1] == 's' && csv->numbers->shape[1] == 1);
  dnn_csv_free(csv);
  const char *bad[] = {"nope"};
  o.named = bad;
  CHECK(dnn_read_csv(path, &o) == NULL);
  check_message(path, "nope", NULL);

  /* a string value in a column declared numeric */
  o = (dnn_csv_options){1, ',', "nn", 0, NULL, NULL, 0};
  path = write_text("typed.csv", "a,b\n1,2\n3,x\n");
  CHECK(dnn_read_csv(path, &o) == NULL);
  check_message(path, "row 2 (line 3), column 'b' (2)", "'x'");
}

static void test_missing(void) {
  const char *path = write_text("missing.csv", "a,b,c\n1,,x\n2,3,y\nNA,4,\n5,6,z\n");
  dnn_csv *csv = dnn_read_csv(path, &defaults);
  CHECK(csv != NULL);
  if (csv) {
    CHECK(csv->missing[0] == 1 && csv->missing[1] == 1 && csv->missing[2] == 1);
    CHECK(csv->n_missing_rows == 2 && csv->missing_rows[0] == 1 && csv->missing_rows[1] == 3);
    float *x = dnn_data(csv->numbers);
    CHECK(isnan(x[1]) && isnan(x[4]) && x[0] == 1 && x[7] == 6);
    CHECK(strcmp(csv->strings[2][2], "") == 0);
  }
  dnn_csv_free(csv);
  dnn_csv_options o = defaults;
  o.missing_error = 1;
  CHECK(dnn_read_csv(path, &o) == NULL);
  check_message(path, "row 1 (line 2), column 'b' (2)", "missing");
}

static void test_malformed(void) {
  const char *path = write_text("ragged.csv", "a,b\n1,2\n3\n4,5\n");
  CHECK(dnn_read_csv(path, &defaults) == NULL);
  CHECK(dnn_errcode() == DNN_EFORMAT);
  check_message(path, "row 2 (line 3) has 1 fields, expected 2", NULL);

  path = write_text("not_number.csv", "a,b\n1,2\n3,4\nfive,6\n");
  CHECK(dnn_read_csv(path, &defaults) == NULL);
  check_message(path, "row 3 (line 4), column 'a' (1)", "expected a number, got 'five'");

  path = write_text("unclosed.csv", "a,b\n1,\"2\n3,4\n");
  CHECK(dnn_read_csv(path, &defaults) == NULL);
  check_message(path, "line 2", "never closed");

  path = write_text("after_quote.csv", "a,b\n\"1\"x,2\n");
  CHECK(dnn_read_csv(path, &defaults) == NULL);
  check_message(path, "line 2", "after a closing quote");

  path = write_text("empty.csv", "");
  CHECK(dnn_read_csv(path, &defaults) == NULL);
  check_message(path, "no rows", NULL);

  CHECK(dnn_read_csv("/nonexistent/dnn.csv", &defaults) == NULL);
  CHECK(dnn_errcode() == DNN_EIO);
  check_message("/nonexistent/dnn.csv", "cannot open", NULL);

  dnn_csv_options o = defaults;
  o.separator = '"';
  CHECK(dnn_read_csv(path, &o) == NULL && dnn_errcode() == DNN_EARG);
}

static void test_cifar(void) {
  /* two records: labels 3 and 9; pixel (r, c) of channel k holds (k * 50 + r + c) % 256 */
  unsigned char bytes[2 * 3073];
  for (int i = 0; i < 2; i++) {
    unsigned char *rec = bytes + i * 3073;
    rec[0] = i == 0 ? 3 : 9;
    for (int k = 0; k < 3; k++)
      for (int p = 0; p < 1024; p++) rec[1 + k * 1024 + p] = (unsigned char)((k * 50 + p / 32 + p % 32 + i) % 256);
  }
  const char *path = temp_write("batch.bin", bytes, sizeof bytes);
  dnn_tensor *x, *y;
  CHECK(dnn_read_cifar10(path, &x, &y) == DNN_OK);
  if (x && y) {
    CHECK(x->ndim == 4 && x->shape[0] == 2 && x->shape[1] == 32 && x->shape[2] == 32 && x->shape[3] == 3);
    CHECK(y->shape[0] == 2 && dnn_data(y)[0] == 4 && dnn_data(y)[1] == 10);
    /* image 2, row 5, column 7, channel 2 (green): (50 + 5 + 7 + 1) / 255 */
    CHECK_NEAR(dnn_data(x)[((1 * 32 + 5) * 32 + 7) * 3 + 1], 63.0 / 255, 1e-7);
    CHECK_NEAR(dnn_data(x)[((0 * 32 + 31) * 32 + 0) * 3 + 2], (100.0 + 31) / 255, 1e-7);
  }
  dnn_tensor_release(x);
  dnn_tensor_release(y);

  const char *short_path = temp_write("short.bin", bytes, 3000);
  CHECK(dnn_read_cifar10(short_path, &x, &y) == DNN_EFORMAT && x == NULL && y == NULL);
  check_message(short_path, "multiple of 3073", "3000 bytes");

  bytes[3073] = 10; /* a label past 9 in the second record */
  const char *bad_label = temp_write("label.bin", bytes, sizeof bytes);
  CHECK(dnn_read_cifar10(bad_label, &x, &y) == DNN_EFORMAT);
  check_message(bad_label, "image 2 has label 10", NULL);

  CHECK(dnn_read_cifar10("/nonexistent/c.bin", &x, &y) == DNN_EIO);
}

int main(void) {
  if (!temp_dir_make("csv")) return 1;
  test_basic();
  test_options();
  test_missing();
  test_malformed();
  test_cifar();
  temp_dir_remove();
  return check_report("test_csv");
}
