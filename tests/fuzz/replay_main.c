/* Replays a fuzz corpus through a target without libFuzzer: every regular
 * file of the directory given as argv[1], in name order, each as one
 * input. A target signals a broken promise by aborting (or a sanitizer
 * does); the file being run is then named on stderr. An empty or missing
 * corpus fails, so a mistyped path cannot pass. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The file being replayed, for the crash message. Written only by main. */
static char current_path[4096];

static void on_crash(int sig)
{
	static const char msg[] = "fuzz replay: crashed on ";
	/* write(2) only: this runs in a signal handler. */
	if (write(2, msg, sizeof(msg) - 1) < 0 ||
	    write(2, current_path, strlen(current_path)) < 0 || write(2, "\n", 1) < 0) {
		/* nothing more to do */
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

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
	signal(SIGABRT, on_crash);
	signal(SIGSEGV, on_crash);
	signal(SIGBUS, on_crash);
	signal(SIGFPE, on_crash);
	struct dirent **ents;
	int n = scandir(argv[1], &ents, NULL, by_name);
	if (n < 0) {
		perror(argv[1]);
		return 1;
	}
	int ran = 0;
	for (int i = 0; i < n; i++) {
		snprintf(current_path, sizeof(current_path), "%s/%s", argv[1], ents[i]->d_name);
		int regular = ents[i]->d_type == DT_REG || ents[i]->d_type == DT_UNKNOWN;
		free(ents[i]);
		FILE *f = regular ? fopen(current_path, "rb") : NULL;
		if (!f)
			continue;
		if (fseek(f, 0, SEEK_END) != 0) {
			fclose(f);
			continue;
		}
		long len = ftell(f);
		if (len < 0 || fseek(f, 0, SEEK_SET) != 0) {
			fclose(f);
			continue;
		}
		/* Exactly `len` bytes on the heap, so ASan sees reads past the end. */
		uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
		if (!buf) {
			fclose(f);
			fprintf(stderr, "%s: out of memory\n", current_path);
			return 1;
		}
		if (fread(buf, 1, (size_t)len, f) == (size_t)len) {
			LLVMFuzzerTestOneInput(buf, (size_t)len);
			ran++;
		}
		free(buf);
		fclose(f);
	}
	free(ents);
	printf("%s: %d inputs replayed\n", argv[1], ran);
	if (ran == 0)
		fprintf(stderr, "%s: no inputs: an empty corpus tests nothing\n", argv[1]);
	return ran > 0 ? 0 : 1;
}
