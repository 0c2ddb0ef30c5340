/* harness.c - see harness.h. */
#include "harness.h"

int passed, failed;
pid_t parent_pid;

/* ---- cleanup of every name a test used ---------------------------------------------------------- */

#define MAX_TRACKED 64
static char shm_names[MAX_TRACKED][64];
static int n_shm;
static char file_names[MAX_TRACKED][128];
static int n_files;

void cleanup(void)
{
	if (getpid() != parent_pid)
		return;
	for (int i = 0; i < n_shm; i++)
		shm_unlink(shm_names[i]);
	for (int i = 0; i < n_files; i++)
		unlink(file_names[i]);
}

void on_signal(int sig)
{
	cleanup();
	if (sig == SIGALRM) {
		static const char msg[] = "FAIL: test run exceeded its time limit\n";
		ssize_t r = write(2, msg, sizeof msg - 1);
		(void)r;
	}
	_exit(1);
}

/* "/rwc-t-<pid>-<tag>", unlinked now and at exit. */
const char *shm_name(const char *tag)
{
	if (n_shm == MAX_TRACKED)
		abort();
	char *n = shm_names[n_shm++];
	snprintf(n, sizeof shm_names[0], "/rwc-t-%ld-%s", (long)parent_pid, tag);
	shm_unlink(n);
	return n;
}

const char *shm_name_as(const char *prefix, const char *tag)
{
	if (n_shm == MAX_TRACKED)
		abort();
	char *n = shm_names[n_shm++];
	snprintf(n, sizeof shm_names[0], "%s%ld-%s", prefix, (long)parent_pid, tag);
	shm_unlink(n);
	return n;
}

const char *tmp_file(const char *tag)
{
	if (n_files == MAX_TRACKED)
		abort();
	char *n = file_names[n_files++];
	snprintf(n, sizeof file_names[0], "/tmp/rwc-t-%ld-%s", (long)parent_pid, tag);
	unlink(n);
	return n;
}

pid_t spawn(child_fn fn, void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(30);
		_exit(fn(arg));
	}
	return pid;
}

/* Exit status of pid, or 128 + signal. */
int reap(pid_t pid)
{
	int st;
	if (pid <= 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int exit_at_once(void *arg)
{
	(void)arg;
	return 0;
}

/* The pid of a process that has exited and been reaped. */
uint32_t dead_pid(void)
{
	pid_t pid = spawn(exit_at_once, NULL);
	CHECK(reap(pid) == 0, "short-lived child");
	return (uint32_t)pid;
}

/* ---- a test event: the conformance event, written independently of conformer.c ------------------ */

const rw_event_type ev_type = {64, 8, 0x8463538f676797d7ull, "ringwire.conformance.v1"};

static uint64_t ev_sum(const uint8_t *ev)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (int i = 0; i < 64; i++) {
		if (i >= 16 && i < 24)
			continue;
		h ^= ev[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

void ev_make(uint8_t *ev, uint64_t k, uint64_t p)
{
	memcpy(ev, &k, 8);
	memcpy(ev + 8, &p, 8);
	for (int i = 0; i < 40; i++)
		ev[24 + i] = (uint8_t)(k * 31 + p * 7 + (uint64_t)i);
	uint64_t s = ev_sum(ev);
	memcpy(ev + 16, &s, 8);
}

/* 0 if ev is event k of producer p and intact. */
int ev_check(const uint8_t *ev, uint64_t k, uint64_t p)
{
	uint8_t want[EV_SIZE];
	ev_make(want, k, p);
	return memcmp(ev, want, EV_SIZE) != 0;
}

uint64_t ev_seq(const uint8_t *ev)
{
	uint64_t v;
	memcpy(&v, ev, 8);
	return v;
}

uint64_t ev_producer(const uint8_t *ev)
{
	uint64_t v;
	memcpy(&v, ev + 8, 8);
	return v;
}

rw_config config(uint64_t capacity, uint32_t mode, uint32_t registry)
{
	rw_config c;
	rw_config_init(&c);
	c.capacity = capacity;
	c.mode = mode;
	c.registry_capacity = registry;
	c.type = ev_type;
	return c;
}

/* A fresh 4096-aligned heap image of cfg. */
uint8_t *heap_image(const rw_config *cfg, rw_geometry *g)
{
	if (rw_layout(cfg, g, NULL) != RW_OK)
		abort();
	void *buf;
	if (posix_memalign(&buf, 4096, g->total_size) != 0)
		abort();
	memset(buf, 0, g->total_size);
	rw_init_image(buf, g, &cfg->type, 0x1234, (uint32_t)getpid(), 0, 1);
	return buf;
}

/* A fresh heap segment of cfg, opened as its creator (uses producer entry 0). */
uint8_t *heap_segment(const rw_config *cfg, rw_segment **seg)
{
	rw_geometry g;
	if (rw_layout(cfg, &g, NULL) != RW_OK)
		abort();
	void *buf;
	if (posix_memalign(&buf, 4096, g.total_size) != 0)
		abort();
	if (rw_segment_create_memory(buf, g.total_size, cfg, seg, NULL) != RW_OK)
		abort();
	return buf;
}

char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = NULL;
	if (posix_memalign((void **)&buf, 4096, cap) != 0) {
		fclose(f);
		return NULL;
	}
	for (;;) {
		if (n + 4096 + 1 > cap) {
			char *nb;
			if (posix_memalign((void **)&nb, 4096, cap * 2) != 0)
				abort();
			memcpy(nb, buf, n);
			free(buf);
			buf = nb;
			cap *= 2;
		}
		size_t r = fread(buf + n, 1, 4096, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
}


int run(const char *cmd)
{
	fflush(NULL);
	int st = system(cmd);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
