//! A skip list with spans as Redis builds it (`t_zset.c`), only for
//! measuring against the B+tree (see the parent module's docs).
