"""Entry point of the hello-python zipapp (and of `python3 examples/hello-plugin-python`)."""

import sys

# Set before anything else is imported: a sandboxed plugin's files are read-only. (Modules
# imported from a zipapp never write bytecode anyway; this covers running from a checkout.)
sys.dont_write_bytecode = True

from hello_python import main  # noqa: E402 - must come after the line above

main()
