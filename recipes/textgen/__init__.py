"""Character-level text generation: the "HOME" teaching example, then real text such as tiny Shakespeare."""
