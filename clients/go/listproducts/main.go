// Lists the catalog through the Go stubs that `buf generate --template buf.gen.yaml` makes.
//
//	go run ./clients/go/listproducts 127.0.0.1:50051 "$TOKEN"
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	basketv1 "github.com/cartservice/cartservice/gen/go/cartservice/basket/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

func main() {
	address, token := os.Args[1], os.Args[2]
	connection, err := grpc.Dial(address, grpc.WithInsecure())
	if err != nil {
		panic(err)
	}
	defer connection.Close()
	baskets := basketv1.NewBasketServiceClient(connection)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	page, err := baskets.ListProducts(ctx, &basketv1.ListProductsRequest{PageSize: 3})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, product := range page.Products {
		price := product.RetailPrice
		fmt.Printf("%s\t%s %s\n", product.ProductName, price.Amount.Value, price.Currency)
	}
}
