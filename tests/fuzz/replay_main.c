/* Replays a fuzz corpus through a target without libFuzzer: every regular
 * file of the directory given as argv[1], in name order. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	struct dirent **ents;
	int n = scandir(argv[1], &ents, NULL, by_name);
	if (n < 0) {
		perror(argv[1]);
		return 1;
	}
	int ran = 0;
	for (int i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", argv[1], ents[i]->d_name);
		int regular = ents[i]->d_type == DT_REG || ents[i]->d_type == DT_UNKNOWN;
		free(ents[i]);
		FILE *f = regular ? fopen(path, "rb") : NULL;
		if (!f)
			continue;
		fseek(f, 0, SEEK_END);
		long len = ftell(f);
		fseek(f, 0, SEEK_SET);
		if (len < 0) {
			fclose(f);
			continue;
		}
		uint8_t *buf = malloc((size_t)len + 1);
		if (buf && fread(buf, 1, (size_t)len, f) == (size_t)len) {
			LLVMFuzzerTestOneInput(buf, (size_t)len);
			ran++;
		}
		free(buf);
		fclose(f);
	}
	free(ents);
	printf("%d passed, 0 failed\n", ran);
	return ran > 0 ? 0 : 1;
}
