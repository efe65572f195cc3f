//! M:N green actors. (Implementation lands with the scheduler issue.)
