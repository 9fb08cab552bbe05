//! PLACEHOLDER: being written now; replace this whole file.
use crate::record::Record;
pub(crate) fn write_old(_rec: &Record, _out: &mut String) { unimplemented!() }
pub(crate) fn write_new(_rec: &Record, _out: &mut String) { unimplemented!() }
