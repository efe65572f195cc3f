//! The tern VM. (Implementation lands with the vm issue.)
