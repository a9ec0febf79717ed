"""Differentially private synthetic tables (MST, AIM) over ``mbi``'s graphical models; the
utility and privacy report. See docs/synthetic.md."""
