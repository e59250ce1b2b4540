import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTPTypes

/// Guards the hub's connections against a client that opens many and finishes none
/// (docs/security.md): at most `limit` connections at once (one more is closed at once),
/// and a connection that has not sent a whole request head within `headerTimeout` of
/// opening, or of its last answer, is closed. Idle keep-alive connections are closed by
/// the channel's idle timeout.
final class ConnectionGuard: Sendable {
    let limit: Int
    let headerTimeout: TimeAmount
    private let open = NIOLockedValueBox(0)
    private let refusedCount = NIOLockedValueBox(0)
    private let logger: Logger

    init(limit: Int, headerTimeout: TimeAmount, logger: Logger) {
        self.limit = limit
        self.headerTimeout = headerTimeout
        self.logger = logger
    }

    /// A handler for one new connection.
    func handler() -> any RemovableChannelHandler { Handler(guard: self) }

    fileprivate func admit() -> Bool {
        let admitted = open.withLockedValue { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
        if !admitted {
            let refused = refusedCount.withLockedValue { count in
                count += 1
                return count
            }
            // One line per 100, not per connection: a flood must not flood the log as well.
            if refused % 100 == 1 { logger.warning("connection limit reached", metadata: ["limit": "\(limit)", "refused": "\(refused)"]) }
        }
        return admitted
    }

    fileprivate func release() { open.withLockedValue { $0 -= 1 } }

    private final class Handler: ChannelDuplexHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPRequestPart
        typealias InboundOut = HTTPRequestPart
        typealias OutboundIn = HTTPResponsePart
        typealias OutboundOut = HTTPResponsePart

        private let owner: ConnectionGuard
        private var admitted = false
        private var timer: Scheduled<Void>?

        init(guard owner: ConnectionGuard) { self.owner = owner }

        func handlerAdded(context: ChannelHandlerContext) {
            admitted = owner.admit()
            guard admitted else {
                context.close(promise: nil)
                return
            }
            arm(context)
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            timer?.cancel()
            if admitted {
                admitted = false
                owner.release()
            }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .head = unwrapInboundIn(data) {
                timer?.cancel()
                timer = nil
            }
            context.fireChannelRead(data)
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if case .end = unwrapOutboundIn(data) { arm(context) }
            context.write(data, promise: promise)
        }

        private func arm(_ context: ChannelHandlerContext) {
            timer?.cancel()
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleTask(in: owner.headerTimeout) { loopBound.value.close(promise: nil) }
        }
    }
}
