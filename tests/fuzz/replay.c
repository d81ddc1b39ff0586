/* Replays inputs through a fuzz harness without libFuzzer: each file given is read and passed
 * to LLVMFuzzerTestOneInput once. Exit 0 when every input ran (a crash or sanitizer report
 * ends the process otherwise). Built with the harnesses by `make tests`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (f == NULL) {
			perror(argv[i]);
			return 2;
		}
		size_t cap = 4096, len = 0;
		uint8_t *buf = malloc(cap);
		size_t n;
		while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
			len += n;
			if (len == cap)
				buf = realloc(buf, cap *= 2);
		}
		if (buf == NULL || ferror(f)) {
			fprintf(stderr, "%s: read error\n", argv[i]);
			return 2;
		}
		fclose(f);
		/* As libFuzzer does: the input in a buffer of its exact size, so reading past
		 * the end is caught. */
		uint8_t *exact = malloc(len ? len : 1);
		if (exact == NULL)
			abort();
		memcpy(exact, buf, len);
		free(buf);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	return 0;
}
