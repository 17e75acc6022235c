package ledger

import "os"

// alive: on Windows FindProcess opens the process, so it exists.
func alive(*os.Process) bool { return true }
