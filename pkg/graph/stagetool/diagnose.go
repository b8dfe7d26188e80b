package stagetool

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"
)

// diagnose explains in one line why bin did not run in the image whose root
// file system is root ("/" when the stage tool runs in that image): it holds
// the binary's ELF headers against what the image holds. The causes it
// finds, most basic first, are joined with "; ":
//
//   - exec format error: the binary is for another machine and nothing here
//     emulates it;
//   - its ELF interpreter is missing: it is linked against another libc than
//     the image has;
//   - libraries it needs are not in the image's library path;
//   - symbol versions it needs from a library are newer than the image's.
//
// When none applies, it says how the run failed and what the binary printed.
func diagnose(root, bin string, runErr error, output string) string {
	enoexec := errors.Is(runErr, syscall.ENOEXEC)
	f, err := elf.Open(bin)
	if err != nil {
		if enoexec {
			return fmt.Sprintf("the kernel refuses the binary (%v) and it is not an ELF executable: %v", runErr, err)
		}
		return ranWith(runErr, output)
	}
	defer f.Close()
	if enoexec {
		return wrongMachine(f)
	}
	var causes []string
	if c := interpreterCause(root, f); c != "" {
		causes = append(causes, c)
	}
	found, c := libraries(root, f)
	if c != "" {
		causes = append(causes, c)
	}
	causes = append(causes, versionCauses(f, found)...)
	if len(causes) == 0 {
		return ranWith(runErr, output)
	}
	if p := firstLines(output, 3, 300); p != "" {
		causes = append(causes, "it printed: "+p)
	}
	return strings.Join(causes, "; ")
}

// ranWith is the last resort: how the run failed and the first lines of
// what the binary printed (musl's "Error relocating ...: symbol not found").
func ranWith(runErr error, output string) string {
	s := checkArgs.command() + " failed"
	if runErr != nil {
		s += ": " + runErr.Error()
	}
	if p := firstLines(output, 3, 300); p != "" {
		return s + "; it printed: " + p
	}
	return s + "; it printed nothing"
}

// firstLines joins the first n non-blank lines of s with " | ", clipped to
// max bytes.
func firstLines(s string, n, max int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && len(lines) < n {
			lines = append(lines, l)
		}
	}
	return clip(strings.Join(lines, " | "), max)
}

// clip cuts s to at most max bytes, on a character boundary, marking the cut.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const mark = "…"
	cut := max - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// elfPlatform is the platform bin is built for, as BuildKit names it
// ("linux/arm64").
func elfPlatform(bin string) (string, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return "", err
	}
	defer f.Close()
	p, _, err := machineOf(f)
	return p, err
}

// machineOf is the platform of an ELF file and the machine's name as uname
// prints it.
func machineOf(f *elf.File) (platform, uname string, err error) {
	switch {
	case f.Machine == elf.EM_X86_64:
		return "linux/amd64", "x86_64", nil
	case f.Machine == elf.EM_AARCH64:
		return "linux/arm64", "aarch64", nil
	case f.Machine == elf.EM_ARM:
		return "linux/arm", "arm", nil
	case f.Machine == elf.EM_386:
		return "linux/386", "i386", nil
	case f.Machine == elf.EM_PPC64 && f.Data == elf.ELFDATA2LSB:
		return "linux/ppc64le", "ppc64le", nil
	case f.Machine == elf.EM_PPC64:
		return "linux/ppc64", "ppc64", nil
	case f.Machine == elf.EM_S390:
		return "linux/s390x", "s390x", nil
	case f.Machine == elf.EM_RISCV && f.Class == elf.ELFCLASS64:
		return "linux/riscv64", "riscv64", nil
	}
	return "", "", fmt.Errorf("no platform for ELF machine %s (%s)", f.Machine, f.Class)
}

// platformName names an ELF file's platform for messages.
func platformName(f *elf.File) string {
	if p, _, err := machineOf(f); err == nil {
		return p
	}
	return f.Machine.String()
}

// wrongMachine explains an exec format error.
func wrongMachine(f *elf.File) string {
	here := "linux/" + runtime.GOARCH
	p, uname, err := machineOf(f)
	switch {
	case err != nil:
		return fmt.Sprintf("the binary is for ELF machine %s and nothing here runs it (this is %s)", f.Machine, here)
	case p != here:
		return fmt.Sprintf("the binary is for %s (%s) and nothing here runs it: no emulator for %s (this is %s)", p, uname, p, here)
	case f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN:
		return fmt.Sprintf("the kernel refuses the binary (exec format error): it is an ELF %s, not an executable", f.Type)
	}
	return fmt.Sprintf("the kernel refuses the binary (exec format error) although it is for %s like this machine: the file may be damaged", p)
}

// interpreter is the ELF interpreter (PT_INTERP) f asks for, "" for none.
func interpreter(f *elf.File) string {
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			if err != nil {
				return ""
			}
			return strings.TrimRight(string(b), "\x00")
		}
	}
	return ""
}

// libcOf names the C library whose dynamic loader is at path.
func libcOf(loader string) string {
	switch base := path.Base(loader); {
	case strings.HasPrefix(base, "ld-musl"):
		return "musl"
	case strings.HasPrefix(base, "ld-linux"), strings.HasPrefix(base, "ld64.so"):
		return "glibc"
	}
	return ""
}

// interpreterCause says whether the image lacks f's ELF interpreter, or
// has one for another machine, and which C library the image has instead.
func interpreterCause(root string, f *elf.File) string {
	interp := interpreter(f)
	if interp == "" {
		return "" // static
	}
	if host, err := inRoot(root, interp); err == nil {
		if g, err := elf.Open(host); err == nil {
			defer g.Close()
			if g.Machine != f.Machine || g.Class != f.Class {
				return fmt.Sprintf("the image's ELF interpreter %s is for %s, the binary for %s", interp, platformName(g), platformName(f))
			}
		}
		return ""
	}
	s := "missing ELF interpreter " + interp
	libc := libcOf(interp)
	if libc != "" {
		s += ": the binary is linked against " + libc + ","
	} else {
		s += ";"
	}
	has := imageLoaders(root)
	if len(has) == 0 {
		return s + " the image has no dynamic loader (it runs static binaries only)"
	}
	return s + " the image has " + has
}

// imageLoaders lists the dynamic loaders the image holds, by C library:
// "musl (/lib/ld-musl-x86_64.so.1)"; "" for none.
func imageLoaders(root string) string {
	var libcs []string
	paths := map[string][]string{}
	seen := map[string]bool{}
	for _, g := range []struct{ dir, pattern string }{
		{"/lib", "ld-musl-*.so.1"},
		{"/lib64", "ld-linux*.so.*"},
		{"/lib", "ld-linux*.so.*"},
		{"/lib64", "ld64.so.*"},
		{"/lib", "ld64.so.*"},
	} {
		for _, p := range globIn(root, g.dir, g.pattern) {
			host, _ := inRoot(root, p)
			if seen[host] {
				continue // /lib64 -> lib
			}
			seen[host] = true
			libc := libcOf(p)
			if paths[libc] == nil {
				libcs = append(libcs, libc)
			}
			paths[libc] = append(paths[libc], p)
		}
	}
	var parts []string
	for _, libc := range libcs {
		parts = append(parts, fmt.Sprintf("%s (%s)", libc, strings.Join(paths[libc], ", ")))
	}
	return strings.Join(parts, " and ")
}

// libraries finds the libraries f needs (DT_NEEDED) in the image's library
// path: it returns the host path of each found, and says which are missing.
// A library for another machine or ELF class does not count, as the
// dynamic loader skips it too.
func libraries(root string, f *elf.File) (map[string]string, string) {
	needed, err := f.ImportedLibraries()
	if err != nil || len(needed) == 0 {
		return nil, ""
	}
	dirs := libraryPath(root, f)
	found := map[string]string{}
	var missing, notes []string
	for _, lib := range needed {
		candidates := []string{lib}
		if !strings.Contains(lib, "/") {
			candidates = candidates[:0]
			for _, d := range dirs {
				candidates = append(candidates, path.Join(d, lib))
			}
		}
		var other string
		for _, c := range candidates {
			host, err := inRoot(root, c)
			if err != nil {
				continue
			}
			g, err := elf.Open(host)
			if err != nil {
				continue
			}
			compatible := g.Machine == f.Machine && g.Class == f.Class
			if !compatible && other == "" {
				other = fmt.Sprintf("%s is for %s", c, platformName(g))
			}
			g.Close()
			if compatible {
				found[lib] = host
				break
			}
		}
		if _, ok := found[lib]; !ok {
			missing = append(missing, lib)
			if other != "" {
				notes = append(notes, other)
			}
		}
	}
	if len(missing) == 0 {
		return found, ""
	}
	s := fmt.Sprintf("needed library %s is not in the image's library path", missing[0])
	if len(missing) > 1 {
		s = fmt.Sprintf("needed libraries %s are not in the image's library path", strings.Join(missing, ", "))
	}
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, ", ") + ")"
	}
	return found, s
}

// multiarch are Debian's library directories by machine.
var multiarch = map[elf.Machine][]string{
	elf.EM_X86_64:  {"x86_64-linux-gnu"},
	elf.EM_AARCH64: {"aarch64-linux-gnu"},
	elf.EM_ARM:     {"arm-linux-gnueabihf", "arm-linux-gnueabi"},
	elf.EM_386:     {"i386-linux-gnu"},
	elf.EM_PPC64:   {"powerpc64le-linux-gnu"},
	elf.EM_S390:    {"s390x-linux-gnu"},
	elf.EM_RISCV:   {"riscv64-linux-gnu"},
}

// libraryPath lists the directories, as the image names them, where the
// dynamic loaders look for f's libraries: f's absolute RPATH and RUNPATH,
// musl's /etc/ld-musl-ARCH.path, glibc's /etc/ld.so.conf (with its
// includes), the default directories and Debian's multiarch ones.
func libraryPath(root string, f *elf.File) []string {
	var dirs []string
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		values, _ := f.DynString(tag)
		for _, v := range values {
			for _, d := range strings.Split(v, ":") {
				if strings.HasPrefix(d, "/") && !strings.Contains(d, "$") {
					dirs = append(dirs, d)
				}
			}
		}
	}
	for _, p := range globIn(root, "/etc", "ld-musl-*.path") {
		if host, err := inRoot(root, p); err == nil {
			if data, err := os.ReadFile(host); err == nil {
				dirs = append(dirs, strings.FieldsFunc(string(data), func(r rune) bool { return r == ':' || r == '\n' })...)
			}
		}
	}
	dirs = append(dirs, ldSoConf(root, "/etc/ld.so.conf", 0)...)
	dirs = append(dirs, "/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib")
	for _, t := range multiarch[f.Machine] {
		dirs = append(dirs, "/lib/"+t, "/usr/lib/"+t)
	}
	var out []string
	seen := map[string]bool{}
	for _, d := range dirs {
		d = strings.TrimSpace(d)
		if strings.HasPrefix(d, "/") && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// ldSoConf reads the directories of glibc's ld.so.conf file and the files it
// includes (a pattern in the last path element only, as in
// "include /etc/ld.so.conf.d/*.conf").
func ldSoConf(root, file string, depth int) []string {
	if depth > 8 {
		return nil
	}
	host, err := inRoot(root, file)
	if err != nil {
		return nil
	}
	data, err := os.ReadFile(host)
	if err != nil {
		return nil
	}
	var dirs []string
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.FieldsFunc(line, func(r rune) bool { return unicode.IsSpace(r) || r == ':' || r == ',' })
		switch {
		case len(fields) == 0 || fields[0] == "hwcap":
		case fields[0] == "include":
			for _, pattern := range fields[1:] {
				if !strings.HasPrefix(pattern, "/") {
					pattern = path.Join(path.Dir(file), pattern)
				}
				for _, inc := range globIn(root, path.Dir(pattern), path.Base(pattern)) {
					dirs = append(dirs, ldSoConf(root, inc, depth+1)...)
				}
			}
		default:
			for _, d := range fields {
				d, _, _ = strings.Cut(d, "=") // old "dir=TYPE"
				dirs = append(dirs, d)
			}
		}
	}
	return dirs
}

// inRoot is the host path of the image's path p when the image's root file
// system is root, following symbolic links as the image would see them: an
// absolute link target starts again at root, and ".." stops there.
func inRoot(root, p string) (string, error) {
	resolved := "/"
	todo := strings.Split(p, "/")
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, c)
		host := filepath.Join(root, filepath.FromSlash(next))
		fi, err := os.Lstat(host)
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if links++; links > 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			resolved = "/"
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	return filepath.Join(root, filepath.FromSlash(resolved)), nil
}

// globIn lists, as the image names them, the entries of the image's
// directory dir whose names match pattern and that resolve to a file.
func globIn(root, dir, pattern string) []string {
	host, err := inRoot(root, dir)
	if err != nil {
		return nil
	}
	entries, err := os.ReadDir(host)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if ok, _ := path.Match(pattern, e.Name()); !ok {
			continue
		}
		p := path.Join(dir, e.Name())
		if h, err := inRoot(root, p); err == nil {
			if fi, err := os.Stat(h); err == nil && !fi.IsDir() {
				out = append(out, p)
			}
		}
	}
	return out
}

// splitVersion splits a symbol version such as GLIBC_2.2.5 into its prefix
// ("GLIBC_") and numbers; ok is false for one like GLIBC_PRIVATE.
func splitVersion(v string) (prefix string, nums []int, ok bool) {
	i := strings.LastIndexByte(v, '_')
	if i < 0 || i == len(v)-1 {
		return "", nil, false
	}
	for _, s := range strings.Split(v[i+1:], ".") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return "", nil, false
		}
		nums = append(nums, n)
	}
	return v[:i+1], nums, true
}

// compareVersions orders symbol versions of one prefix by number
// (GLIBC_2.3 < GLIBC_2.28), others by name.
func compareVersions(a, b string) int {
	pa, na, oka := splitVersion(a)
	pb, nb, okb := splitVersion(b)
	if !oka || !okb || pa != pb {
		return strings.Compare(a, b)
	}
	for i := 0; i < len(na) && i < len(nb); i++ {
		if na[i] != nb[i] {
			if na[i] < nb[i] {
				return -1
			}
			return 1
		}
	}
	return len(na) - len(nb)
}

// versionGap says what a library lacks of the versions missing (sorted,
// the newest last) given the versions it defines: "provides up to
// GLIBC_2.28".
func versionGap(defined, missing []string) string {
	newest := missing[len(missing)-1]
	prefix, _, ok := splitVersion(newest)
	if !ok {
		if len(missing) == 1 {
			return "does not define it"
		}
		return "does not define them"
	}
	best := ""
	for _, d := range defined {
		if p, _, ok := splitVersion(d); ok && p == prefix && (best == "" || compareVersions(d, best) > 0) {
			best = d
		}
	}
	if best == "" {
		return "defines no " + prefix + " versions"
	}
	return "provides up to " + best
}

// missingVersions lists, sorted, the versions needed that a library
// defining defined lacks.
func missingVersions(needed, defined []string) []string {
	have := map[string]bool{}
	for _, d := range defined {
		have[d] = true
	}
	var missing []string
	for _, n := range needed {
		if !have[n] {
			have[n] = true // once
			missing = append(missing, n)
		}
	}
	sort.SliceStable(missing, func(i, j int) bool { return compareVersions(missing[i], missing[j]) < 0 })
	return missing
}
