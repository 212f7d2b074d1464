"""Serve the kb web app: `python app.py [--host H] [--port P]` (same as `kb serve`)."""
from kb.cli import main

if __name__ == "__main__":
    main(["serve", *__import__("sys").argv[1:]], prog_name="python app.py")
