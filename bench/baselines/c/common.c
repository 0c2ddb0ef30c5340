#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

const char *bl_prog = "baseline";
int bl_pause = 0;

/* What the signal handlers and the exit hook clean up. Written only by the parent outside
 * handlers; a pid of 0 means "no child". */
static char g_shm_name[64];
static volatile pid_t g_pids[2];

static void write_str(const char *s) {
	ssize_t r = write(STDERR_FILENO, s, strlen(s));
	(void)r;
}

static void kill_children(void) {
	for (int i = 0; i < 2; i++) {
		if (g_pids[i] > 0) {
			kill(g_pids[i], SIGKILL);
		}
	}
}

/* Async-signal-safe: kill(2), unlink via shm_unlink (a plain unlink of /dev/shm/NAME on
 * Linux), write(2), _exit(2). */
static void on_signal(int sig) {
	kill_children();
	if (g_shm_name[0] != '\0') {
		shm_unlink(g_shm_name);
	}
	write_str(bl_prog);
	write_str(sig == SIGALRM ? ": timed out, killed both processes\n" : ": interrupted\n");
	_exit(sig == SIGALRM ? 2 : 128 + sig);
}

static void at_exit_cleanup(void) {
	kill_children();
	if (g_shm_name[0] != '\0') {
		shm_unlink(g_shm_name);
		g_shm_name[0] = '\0';
	}
}

static const int handled_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGALRM};

void bl_init(const char *prog) {
	const char *slash = strrchr(prog, '/');
	bl_prog = slash ? slash + 1 : prog;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof handled_signals / sizeof handled_signals[0]; i++) {
		sigaddset(&sa.sa_mask, handled_signals[i]);
	}
	for (size_t i = 0; i < sizeof handled_signals / sizeof handled_signals[0]; i++) {
		sigaction(handled_signals[i], &sa, NULL);
	}
	atexit(at_exit_cleanup);
}

int bl_parse_u64(const char *flag, const char *text, uint64_t *out) {
	uint64_t v = 0;
	int digits = 0;
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '_' && digits > 0) {
			continue;
		}
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10) {
			digits = 0;
			break;
		}
		v = v * 10 + (uint64_t)(*p - '0');
		digits++;
	}
	if (digits == 0) {
		fprintf(stderr, "%s: bad value for --%s: %s\n", bl_prog, flag, text);
		return -1;
	}
	*out = v;
	return 0;
}

void bl_default_name(char *buf, size_t len) {
	snprintf(buf, len, "/rw-bl-%ld", (long)getpid());
}

int bl_shm_create(struct bl_shm *shm, const char *name, size_t size) {
	memset(shm, 0, sizeof *shm);
	if (name[0] != '/' || strlen(name) >= sizeof shm->name || strchr(name + 1, '/') != NULL) {
		fprintf(stderr, "%s: bad shm name %s: want /NAME, at most %zu bytes, one slash\n", bl_prog,
			name, sizeof shm->name - 1);
		return -1;
	}
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		fprintf(stderr, "%s: shm_open %s: %s\n", bl_prog, name, strerror(errno));
		return -1;
	}
	/* From here on the name exists: register it before anything else can fail. */
	snprintf(g_shm_name, sizeof g_shm_name, "%s", name);
	snprintf(shm->name, sizeof shm->name, "%s", name);
	if (ftruncate(fd, (off_t)size) != 0) {
		fprintf(stderr, "%s: ftruncate %s to %zu bytes: %s\n", bl_prog, name, size, strerror(errno));
		close(fd);
		bl_shm_destroy(shm);
		return -1;
	}
	void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (base == MAP_FAILED) {
		fprintf(stderr, "%s: mmap %s: %s\n", bl_prog, name, strerror(errno));
		bl_shm_destroy(shm);
		return -1;
	}
	shm->base = base;
	shm->size = size;
	/* Fault every page in now, outside any measurement. */
	memset(base, 0, size);
	return 0;
}

void bl_shm_destroy(struct bl_shm *shm) {
	if (shm->base != NULL) {
		munmap(shm->base, shm->size);
		shm->base = NULL;
	}
	if (shm->name[0] != '\0') {
		shm_unlink(shm->name);
		shm->name[0] = '\0';
	}
	g_shm_name[0] = '\0';
}

int bl_pin(int cpu) {
#ifdef __linux__
	if (cpu < 0 || cpu >= CPU_SETSIZE) {
		fprintf(stderr, "%s: cpu %d out of range\n", bl_prog, cpu);
		return -1;
	}
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0) {
		fprintf(stderr, "%s: sched_setaffinity(cpu %d): %s\n", bl_prog, cpu, strerror(errno));
		return -1;
	}
	return 0;
#else
	(void)cpu;
	fprintf(stderr, "%s: pinning is Linux-only; running unpinned\n", bl_prog);
	return 0;
#endif
}

static void child_main(const struct bl_role *role, pid_t parent) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (size_t i = 0; i < sizeof handled_signals / sizeof handled_signals[0]; i++) {
		sigaction(handled_signals[i], &sa, NULL);
	}
#ifdef __linux__
	/* Die with the parent, so a killed harness never leaves a spinning process behind. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent) {
		_exit(1);
	}
#else
	(void)parent;
#endif
	if (bl_pin(role->cpu) != 0) {
		_exit(1);
	}
	/* _exit: the parent's exit hook (which removes the shm name) must not run here. */
	_exit(role->fn(role->arg) & 0xff);
}

static void describe_status(const char *label, int status) {
	if (WIFEXITED(status)) {
		fprintf(stderr, "%s: %s exited with status %d\n", bl_prog, label, WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		fprintf(stderr, "%s: %s killed by signal %d\n", bl_prog, label, WTERMSIG(status));
	}
}

int bl_run_pair(struct bl_role roles[2], unsigned timeout_s) {
	pid_t parent = getpid();
	fflush(stdout);
	fflush(stderr);
	int failed = 0;
	for (int i = 0; i < 2; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			fprintf(stderr, "%s: fork: %s\n", bl_prog, strerror(errno));
			kill_children();
			failed = 1;
			break;
		}
		if (pid == 0) {
			child_main(&roles[i], parent);
		}
		g_pids[i] = pid;
	}
	if (!failed && timeout_s > 0) {
		alarm(timeout_s);
	}
	for (;;) {
		int live = 0;
		for (int i = 0; i < 2; i++) {
			live += g_pids[i] > 0;
		}
		if (live == 0) {
			break;
		}
		int status;
		pid_t pid = waitpid(-1, &status, 0);
		if (pid < 0) {
			if (errno == EINTR) {
				continue;
			}
			fprintf(stderr, "%s: waitpid: %s\n", bl_prog, strerror(errno));
			kill_children();
			failed = 1;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (g_pids[i] != pid) {
				continue;
			}
			g_pids[i] = 0;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				if (!failed) { /* the first failure is the cause; later ones are our kills */
					describe_status(roles[i].label, status);
				}
				failed = 1;
				kill_children();
			}
		}
	}
	alarm(0);
	g_pids[0] = g_pids[1] = 0;
	return failed ? -1 : 0;
}
