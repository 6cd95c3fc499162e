"""`make bench`: side-by-side measurements, each module printing its own figures."""
