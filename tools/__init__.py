"""Development tools of this repository; not part of the shipped mlc_ci package."""
