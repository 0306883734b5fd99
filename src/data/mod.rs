//! Files in and out: the screen loaders (every format becomes a `Screen`), gene sets, the
//! STRING network, gene annotations, the simulated screen, known public downloads, and the
//! run files (atomic writes, hashes, canonical JSON, typed rows).

pub mod annotation;
pub mod cache;
pub mod fetch;
pub mod h5ad;
pub mod inspect;
pub mod network;
pub mod pathway;
pub mod rows;
pub mod runfile;
pub mod runlock;
pub mod screen_file;
pub mod shard;
pub mod simulate;
pub mod textio;
