/* Fuzz target: the CSV reader, from memory. The first byte picks the
 * options (header or not, separator, kinds given or inferred, missing
 * fields an error or not); the rest is the file. */
#include <stddef.h>
#include <stdint.h>

#include "dnn/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const char separators[4] = {',', ';', '\t', ' '};
  static const char *const kinds[4] = {NULL, "n", "sn", "nsa"};
  unsigned char pick = data[0];
  dnn_csv_options o = {.header = pick & 1,
                       .separator = separators[(pick >> 1) & 3],
                       .kinds = kinds[(pick >> 3) & 3],
                       .missing_error = (pick >> 5) & 1};
  dnn_csv_free(dnn_read_csv_memory(data + 1, size - 1, "fuzz.csv", &o));
  return 0;
}
