// Signal routing for the berth command. The common signals (INT, TERM, HUP, QUIT, USR1,
// USR2, WINCH) are blocked in every thread and taken by one router thread: while a process is
// attached (run, tasks exec/start) they go to its handler; otherwise SIGWINCH is ignored and
// the others end the program with 128 + signal after restoring the terminal.
//
// Thread-safety: SetSignalTarget may be called from any thread.
#ifndef BERTH_CLI_SIGNALS_H_
#define BERTH_CLI_SIGNALS_H_

#include <termios.h>

#include <functional>

namespace berth::cli {

// Blocks the signals and starts the router; call first in main, before any thread exists.
void StartSignalRouter();

// Routes signals to `target` (null: back to the default behaviour).
void SetSignalTarget(std::function<void(int)> target);

// Terminal settings to restore if the program ends on a signal (null: none).
void SetTerminalToRestore(const struct termios* saved);

}  // namespace berth::cli

#endif  // BERTH_CLI_SIGNALS_H_
