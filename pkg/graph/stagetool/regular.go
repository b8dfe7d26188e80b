package stagetool

import (
	"fmt"
	"os"
	"syscall"
)

// maxBinary bounds a binary the stage tool copies: the helper is ~10 MB; a
// compile whose image wrote something endless must not fill the disk.
const maxBinary = 1 << 30

// openRegular opens path for reading only when it is a regular file: never
// through a symbolic link at its last element (a stage that ran image code
// may have left one to /dev/zero), never blocking on a FIFO.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type())
	}
	return f, fi, nil
}
