// Lists the catalog through the Java stubs that `buf generate --template buf.gen.yaml` makes.
//   java -cp "gen-classes:/usr/share/java/*" ListProducts 127.0.0.1:50051 "$TOKEN"
import com.cartservice.basket.v1.BasketServiceGrpc;
import com.cartservice.basket.v1.ListProductsRequest;
import com.cartservice.basket.v1.ListProductsResponse;
import com.cartservice.basket.v1.Product;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.stub.MetadataUtils;
import java.util.concurrent.TimeUnit;

public class ListProducts {
  public static void main(String[] args) throws InterruptedException {
    ManagedChannel channel = ManagedChannelBuilder.forTarget(args[0]).usePlaintext().build();
    Metadata headers = new Metadata();
    headers.put(
        Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + args[1]);
    try {
      ListProductsResponse page =
          BasketServiceGrpc.newBlockingStub(channel)
              .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
              .withDeadlineAfter(5, TimeUnit.SECONDS)
              .listProducts(ListProductsRequest.newBuilder().setPageSize(3).build());
      for (Product product : page.getProductsList()) {
        System.out.printf(
            "%s\t%s %s%n",
            product.getProductName(),
            product.getRetailPrice().getAmount().getValue(),
            product.getRetailPrice().getCurrency());
      }
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
