//! The bytecode: one table of opcodes, one line of meaning each.
//!
//! The machine is a stack machine with numbered slots. A frame's slots are
//! `[params][captures][locals]` at the frame's base; the operand stack grows above them.
//! Jump targets are absolute indexes into the function's code. Every opcode is at most 8 bytes.

/// One instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Push `consts[i]`.
    Const(u32),
    /// Push a small integer.
    Int(i32),
    /// Push `nil`.
    Nil,
    /// Push slot `i` of the frame.
    Load(u16),
    /// Pop into slot `i`.
    Store(u16),
    /// Discard the top of the stack.
    Pop,
    /// `a + b` (pop b, pop a, push result; integer overflow is an error).
    Add,
    /// `a - b`
    Sub,
    /// `a + k` for a small integer literal `k`.
    AddInt(i32),
    /// `a - k` for a small integer literal `k`.
    SubInt(i32),
    /// `a * b`
    Mul,
    /// `a / b` (integers: truncating; division by zero is an error).
    Div,
    /// `a rem b`
    Rem,
    /// `-a`
    Neg,
    /// `not a` (truthiness).
    Not,
    /// `a == b` (numbers compare by value).
    Eq,
    /// `a != b`
    Ne,
    /// `a < b` (the total term order).
    Lt,
    /// `a > b`
    Gt,
    /// `a <= b`
    Le,
    /// `a >= b`
    Ge,
    /// `a <> b` (strings or binaries).
    Concat,
    /// Jump to `t`.
    Jump(u32),
    /// Pop; jump to `t` when falsy.
    JumpIfFalse(u32),
    /// If the top is falsy jump to `t` keeping it, else pop it (`and`).
    AndJump(u32),
    /// If the top is truthy jump to `t` keeping it, else pop it (`or`).
    OrJump(u32),
    /// Pop `n` values, push the tuple of them.
    Tuple(u16),
    /// Pop `n` values, push the list of them.
    List(u16),
    /// Pop a tail list and `n` values, push `[v1, ..., vn | tail]`.
    ListTail(u16),
    /// Pop `n` key/value pairs (key first), push the map.
    Map(u16),
    /// Pop a map, push the value at atom `consts[i]` (missing key is an error).
    Field(u32),
    /// Pop `n` values, push the concatenation of their text.
    Interp(u16),
    /// Pop `protos[i].captures` values, push a closure of `protos[i]`.
    Closure(u32),
    /// Call the function value below the `argc` arguments.
    Call(u8),
    /// `Call` in tail position: reuse the frame.
    TailCall(u8),
    /// Call top-level function `i` with `argc` arguments on the stack.
    CallGlobal(u32, u8),
    /// `CallGlobal` in tail position.
    TailCallGlobal(u32, u8),
    /// Call native function `i` with `argc` arguments on the stack.
    CallNative(u16, u8),
    /// Match `tests[i].pat` against slot `tests[i].slot`, binding slots; jump to
    /// `tests[i].fail` when it does not match.
    Test(u32),
    /// Jump to `guards[i].fail` unless `guards[i].expr` is true.
    Guard(u32),
    /// Pop and match against `pats[i]`, binding slots; no match is a runtime error.
    Match(u32),
    /// No `case` clause matched the value in slot `i`: runtime error.
    CaseClause(u16),
    /// No clause of this function matched its arguments: runtime error.
    FnClause,
    /// Selective receive with `recvs[i]`; pops the `after` timeout first when it has one.
    Receive(u32),
    /// Return the top of the stack to the caller.
    Return,
}

#[cfg(test)]
mod tests {
    #[test]
    fn opcodes_are_compact() {
        assert!(std::mem::size_of::<super::Op>() <= 8);
    }
}
