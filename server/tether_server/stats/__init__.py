"""Pure statistics (numpy/scipy only): no database, no Flask, counts in and numbers out."""
