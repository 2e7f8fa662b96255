//! What an embassy application on QEMU's LM3S6965 needs beyond the board support of
//! `../qemu-lm3s6965` (UART0, ADC, semihosting):
//!
//! - [`time_driver`]: embassy-time's driver on SysTick, 1 kHz, with the timer queue.
//! - [`AsyncUart0`]: UART0 as an `embedded_io_async::Write` that yields to other tasks
//!   while the transmit FIFO is full, for picotrace's `FrameQueue::write_to`.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod time_driver;

use core::convert::Infallible;

use picotrace_qemu_lm3s6965::Uart0;

/// UART0 for async code: writes what the 16-byte transmit FIFO takes and yields to the
/// executor while it is full (the LM3S6965's UART interrupt would do without polling; a
/// yield keeps this short and is what a HAL's DMA-less async UART does too).
#[derive(Debug)]
pub struct AsyncUart0(pub Uart0);

impl embedded_io_async::ErrorType for AsyncUart0 {
    type Error = Infallible;
}

impl embedded_io_async::Write for AsyncUart0 {
    async fn write(&mut self, bytes: &[u8]) -> Result<usize, Infallible> {
        if bytes.is_empty() {
            return Ok(0);
        }
        loop {
            let n = self.0.try_write(bytes);
            if n > 0 {
                return Ok(n);
            }
            embassy_futures::yield_now().await;
        }
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        while self.0.is_busy() {
            embassy_futures::yield_now().await;
        }
        Ok(())
    }
}
