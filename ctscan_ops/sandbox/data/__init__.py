"""Data files of the sandbox world (a package only so that wheels ship them)."""
