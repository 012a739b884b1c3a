//! Where segment files are read from and kept: the object store DataFusion reads
//! through ([`lake_store`]: local copies, `.trash/`, ranged reads of remote ones), the
//! remote location on S3 or a folder ([`remote`]), positioned reads of local files
//! ([`pread`]), and the byte-bounded cache the readers' caches are built on
//! ([`sized_lru`]).

pub(crate) mod lake_store;
pub(crate) mod pread;
pub mod remote;
pub(crate) mod sized_lru;
